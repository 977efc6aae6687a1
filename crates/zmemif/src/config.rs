//! A port's configuration: what the user asks for, with its defaults and its validation (errors
//! that say which value to use instead).

use std::time::Duration;

use crate::conn::Role;
use crate::creds::Guard;
use crate::error::{Error, Result};
use crate::wire::{Mode, MAX_LOG2_RING, MAX_RINGS, NAME_LEN, SECRET_LEN};

/// What a port does: see the fields for defaults.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// Interface id: a client reaches the server interface with the same id on the socket.
    pub id: u32,
    pub role: Role,
    pub mode: Mode,
    /// Up to 24 bytes; a server with a secret refuses clients without the same one.
    pub secret: Option<Vec<u8>>,
    /// Interface name sent to the peer (up to 31 bytes).
    pub name: String,
    /// Client→server queues (1..=255). For a client these are its tx queues, for a server its rx.
    pub num_c2s: u16,
    /// Server→client queues (1..=255).
    pub num_s2c: u16,
    /// Slots per ring: a power of two from 2 to 16384. The client's value is used (the server's
    /// HELLO may lower it).
    pub ring_size: u32,
    /// Bytes per buffer, 1..=65535. The client's value is used; larger packets are chained.
    pub buffer_size: u32,
    /// Client: time between connection attempts while the server is absent or gone.
    pub reconnect: Duration,
    /// Either role: a handshake not finished in this time is abandoned.
    pub handshake_timeout: Duration,
    /// Server: only a peer whose uid is listed here (or whose gid is in `allow_gids`) may
    /// connect; others get a DISCONNECT saying why. Both empty: anyone who can reach the socket.
    pub allow_uids: Vec<u32>,
    /// Server: as `allow_uids`, for the peer's gid (its effective gid at `connect`).
    pub allow_gids: Vec<u32>,
    /// Server: on an abstract socket, having neither a secret nor an allow-list is an error
    /// instead of a warning.
    pub require_secret: bool,
    /// Client: connect only to a server running as this uid (checked before the secret or any
    /// memory is sent).
    pub expect_server_uid: Option<u32>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            id: 0,
            role: Role::Client,
            mode: Mode::Ethernet,
            secret: None,
            name: "zmemif".into(),
            num_c2s: 1,
            num_s2c: 1,
            ring_size: 1024,
            buffer_size: 2048,
            reconnect: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(5),
            allow_uids: Vec::new(),
            allow_gids: Vec::new(),
            require_secret: false,
            expect_server_uid: None,
        }
    }
}

impl PortConfig {
    pub fn validate(&self) -> Result<()> {
        if !self.ring_size.is_power_of_two()
            || self.ring_size < 2
            || self.ring_size > 1 << MAX_LOG2_RING
        {
            return Err(Error::invalid(format!(
                "ring size {} is not a power of two from 2 to 16384: use e.g. 1024",
                self.ring_size
            )));
        }
        if self.buffer_size == 0 || self.buffer_size > 65535 {
            return Err(Error::invalid(format!(
                "buffer size {} is not within 1..=65535: use e.g. 2048 (larger packets are chained)",
                self.buffer_size
            )));
        }
        for (n, what) in [
            (self.num_c2s, "client-to-server"),
            (self.num_s2c, "server-to-client"),
        ] {
            if n == 0 || n > MAX_RINGS {
                return Err(Error::invalid(format!(
                    "{n} {what} queues: use 1 to {MAX_RINGS}"
                )));
            }
        }
        if let Some(s) = &self.secret {
            if s.len() > SECRET_LEN || s.contains(&0) {
                return Err(Error::invalid(format!(
                    "the secret must be 1 to {SECRET_LEN} bytes without NUL"
                )));
            }
        }
        let server_only = [
            (!self.allow_uids.is_empty(), "allowUids (allow_uids)"),
            (!self.allow_gids.is_empty(), "allowGids (allow_gids)"),
            (self.require_secret, "requireSecret (require_secret)"),
        ];
        for (set, what) in server_only {
            if set && self.role == Role::Client {
                return Err(Error::invalid(format!(
                    "{what} applies to a server port; a client checks its server with \
                     expectServerUid (expect_server_uid)"
                )));
            }
        }
        if self.expect_server_uid.is_some() && self.role == Role::Server {
            return Err(Error::invalid(
                "expectServerUid (expect_server_uid) applies to a client port; a server restricts \
                 its clients with allowUids/allowGids (allow_uids/allow_gids)",
            ));
        }
        if self.name.len() >= NAME_LEN {
            return Err(Error::invalid(format!(
                "interface name {:?} is longer than {} bytes",
                self.name,
                NAME_LEN - 1
            )));
        }
        Ok(())
    }

    /// What keeps strangers out of this port, when it is a server (see creds.rs).
    pub(crate) fn guard(&self) -> Guard<'_> {
        Guard {
            id: self.id,
            allow_uids: &self.allow_uids,
            allow_gids: &self.allow_gids,
            secret: self.secret.is_some(),
            require_secret: self.require_secret,
        }
    }

    pub fn log2_ring_size(&self) -> u8 {
        self.ring_size.trailing_zeros() as u8
    }
}
