//! The memif 2.0 wire format: control messages (128 bytes each) and the shared-memory layout constants
//! (ring header, descriptor). Offsets follow DPDK `memif.h` / VPP `memif.h`; all integers little-endian.
//! Pure data: no I/O here.

/// Every control message is exactly this long.
pub const MSG_SIZE: usize = 128;
/// Protocol version 2.0, encoded `(major << 8) | minor`.
pub const VERSION: u16 = 0x0200;
/// Magic value at offset 0 of every ring.
pub const COOKIE: u32 = 0x3E31F20;
/// Largest log2 ring size any implementation accepts.
pub const MAX_LOG2_RING: u8 = 14;
/// Ring counts are advertised as a maximum *index* (255 → 256 rings); we cap at 255 rings.
pub const MAX_RINGS: u16 = 255;
pub const MAX_REGIONS: u16 = 255;
pub const NAME_LEN: usize = 32;
pub const SECRET_LEN: usize = 24;
pub const REASON_LEN: usize = 96;

/// Ring header: cookie u32 @0, flags u16 @4, head u16 @6, tail u16 @64, descriptors @128
/// (64-byte cache lines, as on x86_64 DPDK and VPP).
pub const RING_COOKIE_OFF: usize = 0;
pub const RING_FLAGS_OFF: usize = 4;
pub const RING_HEAD_OFF: usize = 6;
pub const RING_TAIL_OFF: usize = 64;
pub const RING_HEADER_SIZE: usize = 128;
/// Ring flag: the receiver of this ring polls; the transmitter need not signal its eventfd.
pub const RING_FLAG_MASK_INT: u16 = 1;

/// Descriptor: flags u16 @0, region u16 @2, length u32 @4, offset u32 @8, metadata u32 @12.
pub const DESC_SIZE: usize = 16;
pub const DESC_FLAGS_OFF: usize = 0;
pub const DESC_REGION_OFF: usize = 2;
pub const DESC_LENGTH_OFF: usize = 4;
pub const DESC_OFFSET_OFF: usize = 8;
/// Descriptor flag: the packet continues in the next slot.
pub const DESC_FLAG_NEXT: u16 = 1;

/// Ring flag in ADD_RING: the ring carries client→server traffic (S2M / C2S).
pub const ADD_RING_FLAG_C2S: u16 = 1;

// The layout is part of the protocol: pin it at compile time.
const _: () = assert!(MSG_SIZE == 128);
const _: () = assert!(RING_TAIL_OFF == 64 && RING_HEADER_SIZE == 128);
const _: () = assert!(DESC_SIZE == 16 && DESC_OFFSET_OFF + 4 + 4 == DESC_SIZE);
// The largest payloads: INIT ends at 33 + 32 = 65, DISCONNECT at 6 + 96 = 102.
const _: () = assert!(33 + NAME_LEN <= MSG_SIZE && 6 + REASON_LEN <= MSG_SIZE);

/// Interface mode (INIT byte 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Ethernet = 0,
    Ip = 1,
    PuntInject = 2,
}

impl Mode {
    pub fn from_u8(v: u8) -> Option<Mode> {
        match v {
            0 => Some(Mode::Ethernet),
            1 => Some(Mode::Ip),
            2 => Some(Mode::PuntInject),
            _ => None,
        }
    }
}

/// Message type ids.
pub mod ty {
    pub const ACK: u16 = 1;
    pub const HELLO: u16 = 2;
    pub const INIT: u16 = 3;
    pub const ADD_REGION: u16 = 4;
    pub const ADD_RING: u16 = 5;
    pub const CONNECT: u16 = 6;
    pub const CONNECTED: u16 = 7;
    pub const DISCONNECT: u16 = 8;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub name: Vec<u8>,
    pub min_version: u16,
    pub max_version: u16,
    pub max_region: u16,
    pub max_s2c_ring: u16,
    pub max_c2s_ring: u16,
    pub max_log2_ring_size: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Init {
    pub version: u16,
    pub id: u32,
    pub mode: u8,
    pub secret: Vec<u8>,
    pub name: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddRing {
    /// True for a client→server (S2M) ring.
    pub c2s: bool,
    pub index: u16,
    pub region: u16,
    pub offset: u32,
    pub log2_size: u8,
    pub private_hdr_size: u16,
}

/// A decoded control message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Ack,
    Hello(Hello),
    Init(Init),
    AddRegion { index: u16, size: u64 },
    AddRing(AddRing),
    Connect { name: Vec<u8> },
    Connected { name: Vec<u8> },
    Disconnect { code: u32, reason: Vec<u8> },
}

/// Why a 128-byte message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Size(usize),
    UnknownType(u16),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Size(n) => write!(f, "Invalid message size {n}"),
            DecodeError::UnknownType(t) => write!(f, "Unknown message type {t:#x}"),
        }
    }
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
/// Copies at most `len - 1` bytes so the field stays NUL-terminated, as C readers expect.
fn put_str(b: &mut [u8], off: usize, len: usize, s: &[u8]) {
    let n = s.len().min(len - 1);
    b[off..off + n].copy_from_slice(&s[..n]);
}
/// Secrets are compared over all 24 bytes (strncmp): a 24-byte secret fills the field.
fn put_bytes(b: &mut [u8], off: usize, len: usize, s: &[u8]) {
    let n = s.len().min(len);
    b[off..off + n].copy_from_slice(&s[..n]);
}
fn get16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}
/// A fixed-size string field up to its first NUL.
fn get_str(b: &[u8], off: usize, len: usize) -> Vec<u8> {
    let f = &b[off..off + len];
    let end = f.iter().position(|&c| c == 0).unwrap_or(len);
    f[..end].to_vec()
}
/// A C string field (names, reasons): its last byte is the terminator, as `put_str` writes it and
/// VPP/DPDK read it (strlcpy), so at most `len - 1` bytes count even when no NUL is there.
fn get_cstr(b: &[u8], off: usize, len: usize) -> Vec<u8> {
    get_str(b, off, len - 1)
}

impl Msg {
    pub fn encode(&self) -> [u8; MSG_SIZE] {
        let mut b = [0u8; MSG_SIZE];
        match self {
            Msg::Ack => put16(&mut b, 0, ty::ACK),
            Msg::Hello(h) => {
                put16(&mut b, 0, ty::HELLO);
                put_str(&mut b, 2, NAME_LEN, &h.name);
                put16(&mut b, 34, h.min_version);
                put16(&mut b, 36, h.max_version);
                put16(&mut b, 38, h.max_region);
                put16(&mut b, 40, h.max_s2c_ring);
                put16(&mut b, 42, h.max_c2s_ring);
                b[44] = h.max_log2_ring_size;
            }
            Msg::Init(i) => {
                put16(&mut b, 0, ty::INIT);
                put16(&mut b, 2, i.version);
                put32(&mut b, 4, i.id);
                b[8] = i.mode;
                put_bytes(&mut b, 9, SECRET_LEN, &i.secret);
                put_str(&mut b, 33, NAME_LEN, &i.name);
            }
            Msg::AddRegion { index, size } => {
                put16(&mut b, 0, ty::ADD_REGION);
                put16(&mut b, 2, *index);
                put64(&mut b, 4, *size);
            }
            Msg::AddRing(r) => {
                put16(&mut b, 0, ty::ADD_RING);
                put16(&mut b, 2, if r.c2s { ADD_RING_FLAG_C2S } else { 0 });
                put16(&mut b, 4, r.index);
                put16(&mut b, 6, r.region);
                put32(&mut b, 8, r.offset);
                b[12] = r.log2_size;
                put16(&mut b, 13, r.private_hdr_size);
            }
            Msg::Connect { name } => {
                put16(&mut b, 0, ty::CONNECT);
                put_str(&mut b, 2, NAME_LEN, name);
            }
            Msg::Connected { name } => {
                put16(&mut b, 0, ty::CONNECTED);
                put_str(&mut b, 2, NAME_LEN, name);
            }
            Msg::Disconnect { code, reason } => {
                put16(&mut b, 0, ty::DISCONNECT);
                put32(&mut b, 2, *code);
                put_str(&mut b, 6, REASON_LEN, reason);
            }
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<Msg, DecodeError> {
        if b.len() != MSG_SIZE {
            return Err(DecodeError::Size(b.len()));
        }
        Ok(match get16(b, 0) {
            ty::ACK => Msg::Ack,
            ty::HELLO => Msg::Hello(Hello {
                name: get_cstr(b, 2, NAME_LEN),
                min_version: get16(b, 34),
                max_version: get16(b, 36),
                max_region: get16(b, 38),
                max_s2c_ring: get16(b, 40),
                max_c2s_ring: get16(b, 42),
                max_log2_ring_size: b[44],
            }),
            ty::INIT => Msg::Init(Init {
                version: get16(b, 2),
                id: get32(b, 4),
                mode: b[8],
                secret: get_str(b, 9, SECRET_LEN),
                name: get_cstr(b, 33, NAME_LEN),
            }),
            ty::ADD_REGION => Msg::AddRegion {
                index: get16(b, 2),
                size: get64(b, 4),
            },
            ty::ADD_RING => Msg::AddRing(AddRing {
                c2s: get16(b, 2) & ADD_RING_FLAG_C2S != 0,
                index: get16(b, 4),
                region: get16(b, 6),
                offset: get32(b, 8),
                log2_size: b[12],
                private_hdr_size: get16(b, 13),
            }),
            ty::CONNECT => Msg::Connect {
                name: get_cstr(b, 2, NAME_LEN),
            },
            ty::CONNECTED => Msg::Connected {
                name: get_cstr(b, 2, NAME_LEN),
            },
            ty::DISCONNECT => Msg::Disconnect {
                code: get32(b, 2),
                reason: get_cstr(b, 6, REASON_LEN),
            },
            t => return Err(DecodeError::UnknownType(t)),
        })
    }

    /// The name of the message type, for error messages ("Unexpected message HELLO").
    pub fn type_name(&self) -> &'static str {
        match self {
            Msg::Ack => "ACK",
            Msg::Hello(_) => "HELLO",
            Msg::Init(_) => "INIT",
            Msg::AddRegion { .. } => "ADD_REGION",
            Msg::AddRing(_) => "ADD_RING",
            Msg::Connect { .. } => "CONNECT",
            Msg::Connected { .. } => "CONNECTED",
            Msg::Disconnect { .. } => "DISCONNECT",
        }
    }
}

/// Bytes of one ring (header + descriptors) of `2^log2` slots.
pub const fn ring_stride(log2: u8) -> usize {
    RING_HEADER_SIZE + DESC_SIZE * (1usize << log2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_dpdk_and_vpp() {
        // Example from the DPDK guide: 1+1 rings of 1024, 2048-byte buffers → 33,024 ring bytes.
        assert_eq!(ring_stride(10), 16_512);
        assert_eq!(2 * ring_stride(10), 33_024);
        assert_eq!(RING_HEAD_OFF, 6);
        assert_eq!(DESC_LENGTH_OFF, 4);
    }

    #[test]
    fn hello_bytes_at_their_offsets() {
        let m = Msg::Hello(Hello {
            name: b"dpdk".to_vec(),
            min_version: VERSION,
            max_version: VERSION,
            max_region: 255,
            max_s2c_ring: 254,
            max_c2s_ring: 253,
            max_log2_ring_size: 14,
        });
        let b = m.encode();
        assert_eq!(&b[0..2], &[2, 0]);
        assert_eq!(&b[2..6], b"dpdk");
        assert_eq!(b[6], 0);
        assert_eq!(&b[34..36], &[0x00, 0x02]);
        assert_eq!(&b[38..40], &[255, 0]);
        assert_eq!(&b[40..42], &[254, 0]);
        assert_eq!(&b[42..44], &[253, 0]);
        assert_eq!(b[44], 14);
        assert!(b[45..].iter().all(|&x| x == 0));
        assert_eq!(Msg::decode(&b).unwrap(), m);
    }

    #[test]
    fn init_secret_and_name_offsets() {
        let m = Msg::Init(Init {
            version: VERSION,
            id: 0x01020304,
            mode: 1,
            secret: b"abcdefghijklmnopqrstuvwx".to_vec(), // all 24 bytes, no NUL
            name: b"app".to_vec(),
        });
        let b = m.encode();
        assert_eq!(&b[0..2], &[3, 0]);
        assert_eq!(&b[4..8], &[4, 3, 2, 1]);
        assert_eq!(b[8], 1);
        assert_eq!(&b[9..33], b"abcdefghijklmnopqrstuvwx");
        assert_eq!(&b[33..36], b"app");
        assert_eq!(Msg::decode(&b).unwrap(), m);
    }

    #[test]
    fn region_ring_disconnect_offsets() {
        let b = Msg::AddRegion {
            index: 3,
            size: 0x1_0000_0002,
        }
        .encode();
        assert_eq!(&b[2..4], &[3, 0]);
        assert_eq!(&b[4..12], &[2, 0, 0, 0, 1, 0, 0, 0]);

        let r = AddRing {
            c2s: true,
            index: 7,
            region: 1,
            offset: 0x10203040,
            log2_size: 10,
            private_hdr_size: 0,
        };
        let b = Msg::AddRing(r.clone()).encode();
        assert_eq!(&b[0..8], &[5, 0, 1, 0, 7, 0, 1, 0]);
        assert_eq!(&b[8..12], &[0x40, 0x30, 0x20, 0x10]);
        assert_eq!(b[12], 10);
        assert_eq!(Msg::decode(&b).unwrap(), Msg::AddRing(r));

        let b = Msg::Disconnect {
            code: 5,
            reason: b"Incorrect secret".to_vec(),
        }
        .encode();
        assert_eq!(&b[0..6], &[8, 0, 5, 0, 0, 0]);
        assert_eq!(&b[6..22], b"Incorrect secret");
    }

    #[test]
    fn unterminated_names_decode_as_their_encoding_would() {
        // Found by the control_decode fuzz target: a 32-byte name without NUL decoded to 32
        // bytes, but encodes to 31, so decode(encode(m)) differed from m.
        let mut b = Msg::Connect { name: vec![] }.encode();
        b[2..2 + NAME_LEN].fill(b'x');
        let m = Msg::decode(&b).unwrap();
        assert_eq!(
            m,
            Msg::Connect {
                name: vec![b'x'; NAME_LEN - 1]
            }
        );
        assert_eq!(Msg::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn overlong_strings_are_truncated_and_terminated() {
        let long = vec![b'x'; 200];
        let b = Msg::Connect { name: long.clone() }.encode();
        assert_eq!(b[2 + NAME_LEN - 1], 0);
        let b = Msg::Disconnect {
            code: 0,
            reason: long,
        }
        .encode();
        assert_eq!(b[6 + REASON_LEN - 1], 0);
        match Msg::decode(&b).unwrap() {
            Msg::Disconnect { reason, .. } => assert_eq!(reason.len(), REASON_LEN - 1),
            _ => panic!(),
        }
    }

    #[test]
    fn bad_messages_are_rejected() {
        assert_eq!(Msg::decode(&[0u8; 64]), Err(DecodeError::Size(64)));
        let mut b = [0u8; MSG_SIZE];
        b[0] = 0x42;
        assert_eq!(Msg::decode(&b), Err(DecodeError::UnknownType(0x42)));
        assert_eq!(
            Msg::decode(&[0u8; MSG_SIZE]),
            Err(DecodeError::UnknownType(0))
        );
    }
}
