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
//! state.rs   port state and its one owner (PortShared)
//! handle.rs  what queues may ask of the control thread (wake, arm)
//! queue.rs   the burst API: descriptors, rx modes; queue/rx.rs RxQueue (rx_burst / release),
//!            queue/tx.rs TxQueue (alloc / tx_burst), queue/shared.rs what both share
//! control.rs the control thread: handshakes, reconnects, teardown, armed interrupts
//! port.rs    Socket and Port, the public objects
//! probe.rs   reading a server's HELLO without connecting (`zmemif info`)
//! ffi.rs     the C ABI (only `extern "C"`)
//! node.rs    the N-API binding for Node.js (feature `node`), over the C ABI
//! ```
//!
//! Each file uses only those above it in this list (`scripts/check-cycles.ts` checks that the
//! imports have no cycle).
#![deny(unsafe_op_in_unsafe_fn)]

mod config;
pub mod conn;
mod control;
pub mod creds;
pub mod error;
pub mod ffi;
mod handle;
mod handshake;
// Not in unit-test builds: napi-derive generates no bindings there.
#[cfg(all(feature = "node", not(test)))]
mod node;
pub mod port;
pub mod probe;
pub mod queue;
pub mod region;
mod registry;
mod ring;
pub mod sock;
mod state;
mod stats;
pub mod wire;
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

/// Test hooks for the cargo-fuzz targets (`crates/zmemif/fuzz`), behind the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::handshake::fuzzing::{Attach, Handshake};
    pub use crate::queue::fuzzing::{FuzzQueue, Pair, RawDesc};
}
