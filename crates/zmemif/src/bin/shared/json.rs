//! One JSON string escaper for the tools that print JSON lines: `zmemif-peer` (a binary of this
//! package, `#[path = "shared/json.rs"]`) and the dpdk-testpmd launcher of the tests
//! (support/testpmd, which includes this file by path: the peer, part of the zmemif package,
//! cannot depend on the test launcher). What they quote is untrusted text: a peer's reason or
//! name, testpmd's log lines.

use std::fmt::Write as _;

/// `s` as a JSON string literal: `"` and `\` escaped, `\n` `\r` `\t` by their short forms, every
/// other control character (and DEL) as `\u00XX`.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                write!(out, "\\u{:04x}", c as u32).expect("write to String")
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn quotes_what_json_requires() {
        assert_eq!(json_str(""), "\"\"");
        assert_eq!(json_str("net_memif0"), "\"net_memif0\"");
        assert_eq!(json_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_str("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
        assert_eq!(
            json_str("\u{0}\u{1b}[0m\u{7f}"),
            "\"\\u0000\\u001b[0m\\u007f\""
        );
        assert_eq!(json_str("µs ✓"), "\"µs ✓\"");
    }
}
