//! The handshake, either role, fed an arbitrary sequence of messages (well-formed ones built from
//! fuzzed fields, and raw 128-byte ones) with memfds and eventfds attached or not. Whatever comes,
//! it must end in a reason or a connection, never a panic or a hang.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use zmemif::fuzzing::{Attach, Handshake};
use zmemif::fuzzing::wire::{self, AddRing, Hello, Init, Msg};
use zmemif::PortConfig;

#[derive(Arbitrary, Debug)]
enum M {
    Ack,
    Hello {
        name: Vec<u8>,
        min_version: u16,
        max_version: u16,
        max_region: u16,
        max_s2c_ring: u8,
        max_c2s_ring: u8,
        max_log2_ring_size: u8,
    },
    Init {
        version: bool,
        id: u8,
        mode: u8,
        secret: Vec<u8>,
        name: Vec<u8>,
    },
    AddRegion {
        index: u16,
        size: u32,
    },
    AddRing {
        c2s: bool,
        index: u16,
        region: u16,
        offset: u32,
        log2_size: u8,
        private_hdr_size: u16,
    },
    Connect(Vec<u8>),
    Connected(Vec<u8>),
    Disconnect(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum A {
    None,
    Eventfd,
    /// A memfd of `size * 64` bytes with the ring cookie at each `offset * 8`.
    Memfd { size: u16, cookies: Vec<u16> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    server: bool,
    secret: Option<[u8; 4]>,
    steps: Vec<(M, A)>,
}

fn bytes(m: M) -> Vec<u8> {
    let msg = match m {
        M::Raw(b) => return b,
        M::Ack => Msg::Ack,
        M::Hello {
            name,
            min_version,
            max_version,
            max_region,
            max_s2c_ring,
            max_c2s_ring,
            max_log2_ring_size,
        } => Msg::Hello(Hello {
            name,
            min_version,
            max_version,
            max_region,
            // Small queue counts and rings keep each run cheap; the server side sees any.
            max_s2c_ring: (max_s2c_ring % 4) as u16,
            max_c2s_ring: (max_c2s_ring % 4) as u16,
            max_log2_ring_size: max_log2_ring_size % 8,
        }),
        M::Init {
            version,
            id,
            mode,
            secret,
            name,
        } => Msg::Init(Init {
            version: if version { wire::VERSION } else { 0x0100 },
            id: (id % 4) as u32,
            mode,
            secret,
            name,
        }),
        M::AddRegion { index, size } => Msg::AddRegion {
            index,
            size: size as u64,
        },
        M::AddRing {
            c2s,
            index,
            region,
            offset,
            log2_size,
            private_hdr_size,
        } => Msg::AddRing(AddRing {
            c2s,
            index,
            region,
            offset,
            log2_size,
            private_hdr_size,
        }),
        M::Connect(name) => Msg::Connect { name },
        M::Connected(name) => Msg::Connected { name },
        M::Disconnect(reason) => Msg::Disconnect { code: 0, reason },
    };
    msg.encode().to_vec()
}

fn attach(a: A) -> Attach {
    match a {
        A::None => Attach::None,
        A::Eventfd => Attach::Eventfd,
        A::Memfd { size, cookies } => {
            let size = (size as u32 % 4096) * 64; // up to 256 KiB
            let mut content = vec![0u8; size as usize];
            for off in cookies {
                let o = off as usize * 8;
                if o + 4 <= content.len() {
                    content[o..o + 4].copy_from_slice(&wire::COOKIE.to_le_bytes());
                }
            }
            Attach::Memfd { size, content }
        }
    }
}

fuzz_target!(|input: Input| {
    let cfg = PortConfig {
        id: 1,
        num_c2s: 2,
        num_s2c: 2,
        ring_size: 16,
        buffer_size: 64,
        secret: input.secret.map(|s| s.to_vec()),
        ..PortConfig::default()
    };
    let mut h = if input.server {
        Handshake::server(cfg)
    } else {
        Handshake::client(cfg)
    };
    for (m, a) in input.steps.into_iter().take(64) {
        if h.feed(&bytes(m), attach(a)).is_err() {
            break;
        }
    }
    let _ = h.connected();
});
