//! zmemif: the memif shared-memory packet interface (DPDK `net_memif`, VPP `libmemif`), protocol 2.0.
//!
//! ```text
//! wire.rs    control messages and shared-memory layout constants (pinned at compile time)
//! error.rs   errors with stable codes
//! creds.rs   who may connect: peer credentials, allow-lists, the unguarded-socket check
//! sock.rs    the control socket: addresses, listener permissions, messages with fds
//! region.rs  shared-memory regions (memfd, mmap)
//! ring.rs    raw ring access: the only code with pointers into shared memory
//! conn.rs    a connection's regions, rings and eventfds; descriptor validation
//! config.rs  PortConfig: defaults and validation
//! stats.rs   per-queue counters
//! owner.rs   which thread owns each C ABI handle (closed when that JavaScript thread ends)
//! gate.rs    the gate each thread's C callbacks are called through (shut when the thread ends)
//! state.rs   port state and its one owner (PortShared)
//! handle.rs  what queues may ask of the control thread (wake, arm)
//! queue.rs   the burst API: descriptors, rx modes; queue/rx.rs RxQueue (rx_burst / release),
//!            queue/tx.rs TxQueue (alloc / tx_burst), queue/shared.rs what both share
//! handshake.rs    the handshake, both roles, as a state machine (no socket)
//! registry.rs     a socket's ports and listener
//! worker.rs       the control thread's loop: accept/connect, links, reconnects, armed interrupts
//! control.rs      starts and stops the control thread
//! port.rs    Socket and Port, the public objects
//! probe.rs   reading a server's HELLO without connecting (`zmemif info`)
//! ffi.rs     the C ABI (only `extern "C"`)
//! node.rs    the N-API binding for Node.js (feature `node`), over the C ABI
//! ```
//!
//! Each file uses only those above it in this list (`scripts/check-cycles.ts` checks that the
//! imports have no cycle).
#![deny(unsafe_op_in_unsafe_fn)]

// Only `ffi` (the C ABI), `error` (`Error`, `Code`, the `ZMEMIF_E_*` numbers) and `probe` (what
// `zmemif info` asks a server) are public modules; the rest of what users need is re-exported
// below. The `fuzzing` feature adds the hooks
// that fuzz targets and hostile-peer tests drive the internals with.
mod config;
mod conn;
mod control;
mod creds;
pub mod error;
pub mod ffi;
mod gate;
mod handle;
mod handshake;
// Not in unit-test builds: napi-derive generates no bindings there.
#[cfg(all(feature = "node", not(test)))]
mod node;
mod owner;
mod port;
pub mod probe;
mod queue;
mod region;
mod registry;
mod ring;
mod sock;
mod state;
mod stats;
mod wire;
mod worker;

pub use config::PortConfig;
pub use conn::{Dir, Role};
pub use creds::PeerCred;
pub use error::{Code, Error, Result};
pub use port::{Port, Socket};
pub use queue::{Desc, RxMode, RxQueue, TxQueue, DESC_NEXT};
pub use sock::{Perms, SocketAddr};
pub use state::{Callback, Event, PortInfo, Status};
pub use stats::QueueStats;
pub use wire::Mode;

/// Test hooks, behind the `fuzzing` feature (off in every normal build): for the cargo-fuzz
/// targets (`crates/zmemif/fuzz`), and for the integration tests that play a hostile or unusual
/// peer by hand (`tests/hostile_peer.rs`, `tests/peer_layouts.rs`), which get the feature through
/// the crate's dev-dependency on itself.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::handshake::fuzzing::{Attach, Handshake};
    pub use crate::queue::fuzzing::{FuzzQueue, Pair, RawDesc};

    /// One connection's regions, rings and eventfds (`Connection::create_client`, ...).
    pub mod conn {
        pub use crate::conn::*;
    }
    /// Shared-memory regions.
    pub mod region {
        pub use crate::region::*;
    }
    /// The control socket: raw messages with fds.
    pub mod sock {
        pub use crate::sock::*;
    }
    /// Control messages and the shared-memory layout.
    pub mod wire {
        pub use crate::wire::*;
    }
}
