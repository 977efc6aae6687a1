//! Errors: one enum, each variant with a stable numeric code for the C ABI and a message that says
//! what to do.

use std::fmt;
use std::io;

// The one list of error codes: each `ZMEMIF_E_<NAME>` constant is a code's number and name, and
// its doc line is its message (`Code`'s `Display`, and `zmemif_strerror` in C). cbindgen copies the
// constants into include/zmemif.h as they are (scripts/gen-abi.ts takes them on to TypeScript),
// and build.rs makes the `Code` enum from the same lines (variant `InvalidArgument` for
// `ZMEMIF_E_INVALID_ARGUMENT`). One line of doc each, plain text. Never renumber.

/// invalid argument
pub const ZMEMIF_E_INVALID_ARGUMENT: i32 = -1;
/// bad socket path
pub const ZMEMIF_E_SOCKET_PATH: i32 = -2;
/// permission denied on the control socket
pub const ZMEMIF_E_PERMISSION: i32 = -3;
/// a live memif server already listens on this socket
pub const ZMEMIF_E_ADDRESS_IN_USE: i32 = -4;
/// an interface with this id and role already exists on this socket
pub const ZMEMIF_E_ID_IN_USE: i32 = -5;
/// not connected
pub const ZMEMIF_E_NOT_CONNECTED: i32 = -6;
/// timed out
pub const ZMEMIF_E_TIMEOUT: i32 = -7;
/// queue id out of range
pub const ZMEMIF_E_QUEUE_RANGE: i32 = -8;
/// queue already open through another handle
pub const ZMEMIF_E_BUSY: i32 = -9;
/// port or socket closed
pub const ZMEMIF_E_CLOSED: i32 = -10;
/// the peer refused the connection
pub const ZMEMIF_E_PEER_REJECTED: i32 = -11;
/// packet too large
pub const ZMEMIF_E_TOO_LARGE: i32 = -12;
/// operating system error
pub const ZMEMIF_E_IO: i32 = -13;
/// internal error (a bug in zmemif)
pub const ZMEMIF_E_INTERNAL: i32 = -14;

// `enum Code` with `Code::ALL`, `name()` and `message_c()`, made by build.rs from the list above.
include!(concat!(env!("OUT_DIR"), "/codes.rs"));

impl Code {
    pub fn from_i32(v: i32) -> Option<Code> {
        Code::ALL.into_iter().find(|c| *c as i32 == v)
    }

    /// A fixed description of the code (the per-call message says more); also its `Display`.
    pub fn describe(self) -> &'static str {
        self.message_c()
            .to_str()
            .expect("build.rs writes the messages as plain text")
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// An error with its code and a message for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, message)
    }

    pub fn not_connected() -> Error {
        Error::new(
            Code::NotConnected,
            "the port is not connected: wait for the connection (Port::wait_connected) and attach again",
        )
    }

    /// An OS error during `what`, classified so that permission and path problems get their own codes.
    pub fn os(what: &str, err: nix::Error) -> Error {
        let code = match err {
            nix::Error::EACCES | nix::Error::EPERM => Code::Permission,
            nix::Error::ENOENT | nix::Error::ENOTDIR | nix::Error::ENAMETOOLONG => Code::SocketPath,
            nix::Error::EADDRINUSE => Code::AddressInUse,
            _ => Code::Io,
        };
        let hint = match code {
            Code::Permission => ": run as a user who may use that path, or change its owner/mode",
            Code::SocketPath => ": check that the directory exists and the path is right",
            _ => "",
        };
        Error::new(code, format!("{what}: {}{hint}", err.desc()))
    }

    pub fn io(what: &str, err: io::Error) -> Error {
        match err.raw_os_error() {
            Some(n) => Error::os(what, nix::Error::from_raw(n)),
            None => Error::new(Code::Io, format!("{what}: {err}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.name())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in -14..=-1 {
            let c = Code::from_i32(v).unwrap();
            assert_eq!(c as i32, v);
            assert!(!c.name().is_empty());
        }
        assert!(Code::from_i32(0).is_none());
        assert!(Code::from_i32(-15).is_none());
    }

    #[test]
    fn one_list() {
        assert_eq!(Code::ALL.len(), 14);
        assert_eq!(Code::InvalidArgument as i32, ZMEMIF_E_INVALID_ARGUMENT);
        assert_eq!(Code::Io.name(), "IO");
        assert_eq!(Code::IdInUse.name(), "ID_IN_USE");
        assert_eq!(
            Code::Internal.to_string(),
            "internal error (a bug in zmemif)"
        );
        for c in Code::ALL {
            assert_eq!(c.to_string(), c.describe());
            assert_eq!(c.message_c().to_str().unwrap(), c.describe());
        }
    }

    #[test]
    fn os_errors_are_classified() {
        assert_eq!(Error::os("x", nix::Error::EACCES).code, Code::Permission);
        assert_eq!(Error::os("x", nix::Error::ENOENT).code, Code::SocketPath);
        assert_eq!(
            Error::os("x", nix::Error::EADDRINUSE).code,
            Code::AddressInUse
        );
        assert_eq!(Error::os("x", nix::Error::EIO).code, Code::Io);
    }
}
