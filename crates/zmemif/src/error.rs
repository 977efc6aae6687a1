//! Errors: one enum, each variant with a stable numeric code for the C ABI and a message that says
//! what to do.

use std::fmt;
use std::io;

/// Stable error codes of the C ABI (negative `i32`). Never renumber.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidArgument = -1,
    SocketPath = -2,
    Permission = -3,
    AddressInUse = -4,
    IdInUse = -5,
    NotConnected = -6,
    Timeout = -7,
    QueueRange = -8,
    Busy = -9,
    Closed = -10,
    PeerRejected = -11,
    TooLarge = -12,
    Io = -13,
    Internal = -14,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::SocketPath => "SOCKET_PATH",
            Code::Permission => "PERMISSION",
            Code::AddressInUse => "ADDRESS_IN_USE",
            Code::IdInUse => "ID_IN_USE",
            Code::NotConnected => "NOT_CONNECTED",
            Code::Timeout => "TIMEOUT",
            Code::QueueRange => "QUEUE_RANGE",
            Code::Busy => "BUSY",
            Code::Closed => "CLOSED",
            Code::PeerRejected => "PEER_REJECTED",
            Code::TooLarge => "TOO_LARGE",
            Code::Io => "IO",
            Code::Internal => "INTERNAL",
        }
    }

    pub fn from_i32(v: i32) -> Option<Code> {
        use Code::*;
        [
            InvalidArgument,
            SocketPath,
            Permission,
            AddressInUse,
            IdInUse,
            NotConnected,
            Timeout,
            QueueRange,
            Busy,
            Closed,
            PeerRejected,
            TooLarge,
            Io,
            Internal,
        ]
        .into_iter()
        .find(|c| *c as i32 == v)
    }

    /// A fixed description of the code (the per-call message says more).
    pub fn describe(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid argument",
            Code::SocketPath => "bad socket path",
            Code::Permission => "permission denied on the control socket",
            Code::AddressInUse => "a live memif server already listens on this socket",
            Code::IdInUse => "an interface with this id and role already exists on this socket",
            Code::NotConnected => "not connected",
            Code::Timeout => "timed out",
            Code::QueueRange => "queue id out of range",
            Code::Busy => "queue already open through another handle",
            Code::Closed => "port or socket closed",
            Code::PeerRejected => "the peer refused the connection",
            Code::TooLarge => "packet too large",
            Code::Io => "operating system error",
            Code::Internal => "internal error (a bug in zmemif)",
        }
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
