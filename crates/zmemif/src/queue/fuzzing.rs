//! Test hooks for `crates/zmemif/fuzz` and the queue's unit tests (feature `fuzzing`, off in every
//! normal build): one queue's data path over a real connection whose other side the caller
//! writes at will.

use std::sync::Arc;

use super::rx::RxRing;
use super::tx::TxRing;
use super::Desc;
use crate::conn::{Connection, Dir, Params, RingInfo, Role};
use crate::error::{Error, Result};
use crate::region::Region;
pub use crate::ring::RawDesc;
use crate::stats::{QueueCounters, QueueStats};

/// Both ends of one connection in this process (memfd regions, mapped twice).
pub struct Pair {
    pub client: Arc<Connection>,
    pub server: Arc<Connection>,
}

impl Pair {
    pub fn new(log2: u8, buffer_size: u32) -> Pair {
        let p = Params {
            num_c2s: 1,
            num_s2c: 1,
            log2,
            buffer_size,
        };
        let c = Connection::create_client(p, 1, "zmemif-fuzz").unwrap();
        let regions = c
            .regions
            .iter()
            .map(|r| Region::from_peer(r.fd().try_clone().unwrap(), r.len() as u64).unwrap())
            .collect();
        let dup = |v: &[RingInfo]| -> Vec<RingInfo> {
            v.iter()
                .map(|r| RingInfo {
                    region: r.region,
                    offset: r.offset,
                    log2: r.log2,
                    eventfd: r.eventfd.try_clone().unwrap(),
                    buffers: None,
                })
                .collect()
        };
        let s = Connection::from_peer(regions, dup(&c.c2s), dup(&c.s2c), 1, "c".into()).unwrap();
        let ring = c.ring(Dir::S2C, 0);
        ring.publish_head(ring.size());
        Pair {
            client: Arc::new(c),
            server: Arc::new(s),
        }
    }

    /// The ring `dir` as seen by `role`'s side (the peer writes through this one).
    pub fn ring(&self, role: Role, dir: Dir) -> crate::ring::Ring {
        match role {
            Role::Client => self.client.ring(dir, 0),
            Role::Server => self.server.ring(dir, 0),
        }
    }

    /// A queue of `role` on ring `dir` (rx if `dir` is what `role` receives on).
    pub fn queue(&self, role: Role, dir: Dir) -> FuzzQueue {
        let conn = match role {
            Role::Client => self.client.clone(),
            Role::Server => self.server.clone(),
        };
        let ring = if dir == Dir::rx_of(role) {
            Side::Rx(RxRing::of(conn, 0))
        } else {
            Side::Tx(TxRing::of(conn, 0))
        };
        FuzzQueue {
            ring,
            c: QueueCounters::default(),
        }
    }
}

enum Side {
    Rx(RxRing),
    Tx(TxRing),
}

/// One queue without a port. Each call first checks the connection as the queues do: a dead
/// one is refused. rx calls on a tx queue (and tx calls on an rx one) do nothing.
pub struct FuzzQueue {
    ring: Side,
    c: QueueCounters,
}

impl FuzzQueue {
    fn at(&self) -> &super::shared::Attachment {
        match &self.ring {
            Side::Rx(r) => &r.at,
            Side::Tx(t) => &t.at,
        }
    }
    pub fn rx_burst(&mut self, out: &mut [Desc]) -> Result<usize> {
        match &mut self.ring {
            Side::Rx(r) if r.at.conn.is_alive() => r.burst(out, &self.c),
            Side::Rx(_) => Err(Error::not_connected()),
            Side::Tx(_) => Err(Error::invalid("rx_burst on a tx queue")),
        }
    }
    pub fn release(&mut self) {
        if let Side::Rx(r) = &mut self.ring {
            if r.at.conn.is_alive() {
                r.release()
            }
        }
    }
    pub fn alloc(&mut self, out: &mut [Desc]) -> usize {
        match &mut self.ring {
            Side::Tx(t) if t.at.conn.is_alive() => t.alloc(out, &self.c),
            _ => 0,
        }
    }
    pub fn tx_burst(&mut self, descs: &[Desc]) -> Result<usize> {
        match &mut self.ring {
            Side::Tx(t) if t.at.conn.is_alive() => t.burst(descs, &self.c),
            Side::Tx(_) => Err(Error::not_connected()),
            Side::Rx(_) => Err(Error::invalid("tx_burst on an rx queue")),
        }
    }
    pub fn tx_free(&self) -> u16 {
        match &self.ring {
            Side::Tx(t) => t.room(&self.c),
            Side::Rx(_) => 0,
        }
    }
    /// The most descriptors one packet may have on this ring (`Connection::max_segments`).
    pub fn max_segments(&self) -> u16 {
        let at = self.at();
        at.conn.max_segments(at.dir, at.index)
    }
    pub fn stats(&self) -> QueueStats {
        self.c.snapshot()
    }
    /// The regions' (base, length), to check every descriptor handed out.
    pub fn regions(&self) -> &[(*mut u8, usize)] {
        &self.at().regions
    }
    pub fn alive(&self) -> bool {
        self.at().conn.is_alive()
    }
}
