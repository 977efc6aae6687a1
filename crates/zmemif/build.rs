//! Two jobs:
//! - the `Code` enum of src/error.rs, made from the one list of error codes there (the
//!   `ZMEMIF_E_*` constants, each with its message as its doc line): see DESIGN.md, "The C ABI";
//! - the N-API binding's link setup (feature `node`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    #[cfg(feature = "node")]
    napi_build::setup();
    codes();
}

/// `INVALID_ARGUMENT` -> `InvalidArgument`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| w[..1].to_string() + &w[1..].to_lowercase())
        .collect()
}

/// Reads `/// message` + `pub const ZMEMIF_E_NAME: i32 = -N;` pairs from src/error.rs and writes
/// `$OUT_DIR/codes.rs`, which error.rs includes.
fn codes() {
    println!("cargo:rerun-if-changed=src/error.rs");
    let src = std::fs::read_to_string("src/error.rs").expect("reading src/error.rs");
    let mut list: Vec<(String, String, String)> = Vec::new(); // (NAME, number, message)
    let mut doc: Option<String> = None;
    for line in src.lines().map(str::trim) {
        if let Some(d) = line.strip_prefix("/// ") {
            doc = Some(d.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("pub const ZMEMIF_E_") {
            let (name, rest) = rest
                .split_once(": i32 = ")
                .expect("pub const ZMEMIF_E_X: i32 = N;");
            let num = rest.strip_suffix(';').expect("a constant ends with ;");
            let msg = doc
                .take()
                .unwrap_or_else(|| panic!("ZMEMIF_E_{name} needs its message as a /// line"));
            assert!(
                !msg.contains('"') && !msg.contains('\\'),
                "ZMEMIF_E_{name}: plain text only"
            );
            list.push((name.to_string(), num.to_string(), msg));
        }
        doc = None;
    }
    assert!(!list.is_empty(), "no ZMEMIF_E_* constants in src/error.rs");
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "/// Stable error codes of the C ABI (negative `i32`), one per `ZMEMIF_E_*` constant."
    );
    let _ = writeln!(
        w,
        "#[repr(i32)]\n#[derive(Clone, Copy, Debug, PartialEq, Eq)]\npub enum Code {{"
    );
    for (name, _, msg) in &list {
        let _ = writeln!(w, "    /// {msg}\n    {} = ZMEMIF_E_{name},", camel(name));
    }
    let _ = writeln!(w, "}}\n\nimpl Code {{");
    let _ = writeln!(
        w,
        "    /// Every code, in the list's order.\n    pub const ALL: [Code; {}] = [",
        list.len()
    );
    for (name, _, _) in &list {
        let _ = writeln!(w, "        Code::{},", camel(name));
    }
    let _ = writeln!(
        w,
        "    ];\n\n    /// The name in `ZMEMIF_E_<name>` (and `MemifError.code` in TypeScript)."
    );
    let _ = writeln!(
        w,
        "    pub fn name(self) -> &'static str {{\n        match self {{"
    );
    for (name, _, _) in &list {
        let _ = writeln!(w, "            Code::{} => \"{name}\",", camel(name));
    }
    let _ = writeln!(w, "        }}\n    }}\n");
    let _ = writeln!(
        w,
        "    /// The fixed message of the code (`Display`, and `zmemif_strerror` in C)."
    );
    let _ = writeln!(
        w,
        "    pub fn message_c(self) -> &'static std::ffi::CStr {{\n        match self {{"
    );
    for (name, _, msg) in &list {
        let _ = writeln!(w, "            Code::{} => c\"{msg}\",", camel(name));
    }
    let _ = writeln!(w, "        }}\n    }}\n}}");
    let dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(Path::new(&dir).join("codes.rs"), out).expect("writing codes.rs");
}
