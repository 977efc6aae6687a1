//! The data path against a hostile peer: both ends of one connection in this process, the
//! "peer" writing raw descriptors and indexes straight into the ring.
use std::sync::atomic::Ordering;

use super::fuzzing::Pair;
use super::rx::RxRing;
use super::tx::TxRing;
use super::{Desc, DESC_NEXT};
use crate::conn::Dir;
use crate::error::Code;
use crate::ring::RawDesc;
use crate::stats::QueueCounters;

/// Both ends of one connection in this process: the fuzz targets' pair, shared.
fn pair(log2: u8, buffer_size: u32) -> Pair {
    Pair::new(log2, buffer_size)
}

fn desc(region: u16, offset: u32, length: u32, flags: u16) -> RawDesc {
    RawDesc {
        flags,
        region,
        length,
        offset,
    }
}

/// The hostile client writes `descs` into the C2S ring at its head and publishes.
fn client_push(p: &Pair, descs: &[RawDesc]) {
    let ring = p.client.ring(Dir::C2S, 0);
    let mut head = ring.head(Ordering::Relaxed);
    for d in descs {
        ring.write_desc(head, *d);
        head = head.wrapping_add(1);
    }
    ring.publish_head(head);
}

fn server_rx(p: &Pair) -> RxRing {
    RxRing::of(p.server.clone(), 0)
}

#[test]
fn bad_descriptors_are_counted_and_skipped() {
    let p = pair(4, 256);
    let size = p.client.regions[0].len() as u32;
    let good = desc(0, 4096, 60, 0);
    client_push(
        &p,
        &[
            desc(5, 0, 60, 0),            // no such region
            desc(0, size - 10, 60, 0),    // runs past the region
            desc(0, u32::MAX - 4, 60, 0), // offset + length overflows u32
            desc(0, 4096, 0, 0),          // empty
            good,
            desc(0, 4096, 60, DESC_NEXT), // chain whose second buffer is bad:
            desc(9, 0, 60, 0),            //   the whole packet goes
            good,
        ],
    );
    let c = QueueCounters::default();
    let mut a = server_rx(&p);
    let mut out = [Desc::default(); 16];
    let n = a.burst(&mut out, &c).unwrap();
    assert_eq!(n, 2);
    assert_eq!((out[0].offset, out[0].length), (4096, 60));
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 6);
    assert_eq!(c.packets.load(Ordering::Relaxed), 2);
    // Every slot, bad ones included, is given back to the client.
    a.burst(&mut out, &c).unwrap();
    assert_eq!(p.client.ring(Dir::C2S, 0).tail(Ordering::Acquire), 8);
}

#[test]
fn an_impossible_peer_index_ends_the_connection_and_delivers_nothing() {
    let p = pair(2, 256); // 4 slots
    let ring = p.client.ring(Dir::C2S, 0);
    for s in 0..4 {
        ring.write_desc(s, desc(0, 400, 10, 0));
    }
    ring.publish_head(5000); // claims 5000 packets in a 4-slot ring
    let c = QueueCounters::default();
    let mut a = server_rx(&p);
    let mut out = [Desc::default(); 64];
    assert_eq!(a.burst(&mut out, &c).unwrap(), 0, "no slot it did not fill");
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 1);
    assert!(!p.server.is_alive());
    assert_eq!(
        p.server.fault(),
        Some("Invalid ring index: head 5000 tail 0 on ring C2S 0 (size 4)")
    );
}

#[test]
fn a_server_filling_more_than_offered_ends_the_connection() {
    let p = pair(2, 256);
    let mut rx = RxRing::of(p.client.clone(), 0);
    let s2c = p.server.ring(Dir::S2C, 0);
    for s in 0..4 {
        s2c.write_len_flags(s, 10, 0);
    }
    s2c.publish_tail(40000);
    let c = QueueCounters::default();
    let mut out = [Desc::default(); 8];
    assert_eq!(rx.burst(&mut out, &c).unwrap(), 0);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 1);
    let why = p.client.fault().unwrap();
    assert!(why.starts_with("Invalid ring index: tail 40000"), "{why}");
    assert!(why.ends_with("on ring S2C 0 (size 4)"), "{why}");
}

#[test]
fn an_impossible_index_on_the_tx_side_hands_out_nothing() {
    // Client tx: the server claims to have consumed slots never sent.
    let p = pair(2, 256);
    let c = QueueCounters::default();
    let mut tx = TxRing::of(p.client.clone(), 0);
    p.server.ring(Dir::C2S, 0).publish_tail(9);
    let mut out = [Desc::default(); 8];
    assert_eq!(tx.alloc(&mut out, &c), 0);
    assert_eq!(tx.room(&c), 0);
    assert_eq!(
        p.client.fault(),
        Some("Invalid ring index: tail 9 head 0 on ring C2S 0 (size 4)")
    );
    // Server tx: the client offers more buffers than the ring has, or its head runs backwards.
    for head in [5u16, 65535] {
        let p = pair(2, 256);
        let mut tx = TxRing::of(p.server.clone(), 0);
        p.client.ring(Dir::S2C, 0).publish_head(head);
        assert_eq!(tx.alloc(&mut out, &c), 0);
        assert_eq!(
            p.server.fault().map(str::to_owned),
            Some(format!(
                "Invalid ring index: head {head} tail 0 on ring S2C 0 (size 4)"
            ))
        );
    }
}

/// The hostile server fills the client's offered S2C buffers: `(length, flags)` per slot.
fn server_fill(p: &Pair, segs: &[(u32, u16)]) {
    let ring = p.server.ring(Dir::S2C, 0);
    let mut tail = ring.tail(Ordering::Relaxed);
    for &(len, flags) in segs {
        ring.write_len_flags(tail, len, flags);
        tail = tail.wrapping_add(1);
    }
    ring.publish_tail(tail);
}

/// A chain of `n` buffers of `len` bytes, NEXT on all but the last.
fn chain(n: usize, len: u32) -> Vec<(u32, u16)> {
    (0..n)
        .map(|k| (len, if k + 1 < n { DESC_NEXT } else { 0 }))
        .collect()
}

#[test]
fn a_legal_chain_longer_than_the_array_waits_for_a_larger_one() {
    // 128-byte buffers: a 9000-byte packet is 71 segments; the longest legal one is 512.
    let p = pair(10, 128);
    let mut rx = RxRing::of(p.client.clone(), 0);
    assert_eq!(rx.max_chain, 512);
    assert_eq!(p.client.max_segments(Dir::S2C, 0), 512);
    let mut pkt = chain(70, 128);
    pkt[69].0 = 9000 - 69 * 128;
    pkt.push((60, 0)); // and a small packet after it
    pkt[69].1 = 0;
    server_fill(&p, &pkt);
    let c = QueueCounters::default();
    let mut small = [Desc::default(); 32];
    for _ in 0..3 {
        let e = rx.burst(&mut small, &c).unwrap_err();
        assert_eq!(e.code, Code::TooLarge);
        assert!(e.message.contains("pass at least 70"), "{}", e.message);
    }
    assert_eq!(rx.next, 0, "the ring did not move");
    let mut big = vec![Desc::default(); rx.max_chain as usize];
    assert_eq!(rx.burst(&mut big, &c).unwrap(), 71);
    assert_eq!(big[..70].iter().map(|d| d.length as u64).sum::<u64>(), 9000);
    assert_eq!(big[69].flags, 0);
    assert_eq!(c.packets.load(Ordering::Relaxed), 2);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 0);
}

#[test]
fn a_chain_longer_than_any_legal_packet_is_dropped_through_its_end() {
    // 2048-byte buffers: no legal packet has more than 32 segments.
    let p = pair(6, 2048);
    let mut rx = RxRing::of(p.client.clone(), 0);
    assert_eq!(rx.max_chain, 32);
    let c = QueueCounters::default();
    let mut out = [Desc::default(); 64];
    server_fill(&p, &chain(33, 10)); // 330 bytes, but 33 segments
    server_fill(&p, &[(60, 0)]);
    assert_eq!(rx.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(out[0].length, 60);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 33);
    // An over-long chain whose end comes in a later burst is dropped through that end.
    let mut long = chain(40, 10);
    let rest = long.split_off(35);
    rx.release(); // the client re-offers the buffers (an honest server fills only those)
    server_fill(&p, &long);
    assert_eq!(rx.burst(&mut out, &c).unwrap(), 0);
    rx.release();
    server_fill(&p, &rest);
    server_fill(&p, &[(61, 0)]);
    assert_eq!(rx.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(out[0].length, 61);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 73);
    // More than 65535 bytes in legal-looking segments.
    rx.release();
    server_fill(&p, &chain(32, 2048)); // 65536 bytes
    server_fill(&p, &[(62, 0)]);
    assert_eq!(rx.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(out[0].length, 62);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 105);
    assert_eq!(c.packets.load(Ordering::Relaxed), 3);
}

#[test]
fn a_server_drops_chains_over_65535_bytes() {
    let p = pair(10, 2048);
    let c = QueueCounters::default();
    let mut a = server_rx(&p);
    assert_eq!(
        a.max_chain, 1024,
        "a server does not know the client's buffer size"
    );
    let mut out = vec![Desc::default(); 1024];
    let mut pkt: Vec<RawDesc> = (0..40)
        .map(|k| desc(0, 4096 + k * 2048, 2048, DESC_NEXT))
        .collect(); // 81920 bytes
    pkt[39].flags = 0;
    pkt.push(desc(0, 4096, 70, 0));
    client_push(&p, &pkt);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(out[0].length, 70);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 40);
}

#[test]
fn chains_wait_for_their_end_and_endless_ones_are_dropped() {
    let p = pair(2, 256);
    let c = QueueCounters::default();
    let mut a = server_rx(&p);
    let mut out = [Desc::default(); 8];
    client_push(
        &p,
        &[desc(0, 400, 100, DESC_NEXT), desc(0, 600, 100, DESC_NEXT)],
    );
    assert_eq!(
        a.burst(&mut out, &c).unwrap(),
        0,
        "half a packet is not delivered"
    );
    client_push(&p, &[desc(0, 800, 50, 0)]);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 3);
    assert_eq!(c.bytes.load(Ordering::Relaxed), 250);
    assert_eq!(out[2].flags, 0);
    a.burst(&mut out, &c).unwrap();
    // A chain as long as the ring that never ends: dropped, so the ring does not stall.
    let endless = [desc(0, 400, 10, DESC_NEXT); 4];
    client_push(&p, &endless);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 0);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 4);
    // Its end, when it comes, goes with it; the next packet is delivered.
    client_push(&p, &[desc(0, 400, 10, 0), desc(0, 500, 11, 0)]);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(out[0].length, 11);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 5);
}

/// A burst that hands out nothing gives back the slots it dropped at once: kept until the next
/// burst, a ring full of them stalled both ends (the peer waits for room, we for its signal).
#[test]
fn dropped_slots_are_given_back_by_the_burst_that_drops_them() {
    let p = pair(2, 256);
    let c = QueueCounters::default();
    let mut a = server_rx(&p);
    let mut out = [Desc::default(); 8];
    let tail = || p.client.ring(Dir::C2S, 0).tail(Ordering::Acquire);
    // A chain that never ends fills the ring.
    client_push(&p, &[desc(0, 400, 10, DESC_NEXT); 4]);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 0);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 4);
    assert_eq!(tail(), 4, "the 4 dropped slots are free for the peer again");
    // Descriptors that point nowhere, a ring full of them.
    client_push(&p, &[desc(9, 0, 60, 0); 4]);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 0);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 8);
    assert_eq!(tail(), 8);
    // A burst that hands packets out keeps them until the next one, as before.
    client_push(&p, &[desc(9, 0, 60, 0), desc(0, 400, 10, 0)]);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(tail(), 8);
    assert_eq!(a.burst(&mut out, &c).unwrap(), 0);
    assert_eq!(tail(), 10);
}

#[test]
fn a_packet_larger_than_the_output_array_is_an_error_not_a_stall() {
    let p = pair(3, 256);
    let c = QueueCounters::default();
    let mut a = server_rx(&p);
    client_push(
        &p,
        &[
            desc(0, 4096, 10, DESC_NEXT),
            desc(0, 4096, 10, DESC_NEXT),
            desc(0, 4096, 10, 0),
        ],
    );
    let mut out = [Desc::default(); 2];
    let e = a.burst(&mut out, &c).unwrap_err();
    assert_eq!(e.code, Code::TooLarge);
    assert!(e.message.contains("pass at least 3"), "{}", e.message);
    let mut out = [Desc::default(); 3];
    assert_eq!(a.burst(&mut out, &c).unwrap(), 3);
}

#[test]
fn server_skips_a_bad_buffer_offered_by_the_client() {
    let p = pair(2, 256);
    let s2c = p.client.ring(Dir::S2C, 0);
    s2c.write_desc(0, desc(7, 0, 256, 0)); // slot 0 offers a buffer in no region
    let c = QueueCounters::default();
    let mut tx = TxRing::of(p.server.clone(), 0);
    let mut out = [Desc::default(); 8];
    let n = tx.alloc(&mut out, &c);
    assert_eq!(n, 3, "the three good buffers");
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 1);
    assert_eq!(
        s2c.tail(Ordering::Acquire),
        1,
        "the bad slot went back, empty"
    );
    assert_eq!(s2c.read_desc(0).length, 0);
    out[0].length = 5;
    assert_eq!(tx.burst(&out[..1], &c).unwrap(), 1);
    assert_eq!(s2c.tail(Ordering::Acquire), 2);
}

#[test]
fn tx_burst_refuses_what_does_not_fit_and_sends_nothing() {
    let p = pair(2, 256);
    let c = QueueCounters::default();
    let mut tx = TxRing::of(p.client.clone(), 0);
    let mut out = [Desc::default(); 2];
    assert_eq!(tx.alloc(&mut out, &c), 2);
    let mut bad = out;
    bad[1].length = 257;
    assert_eq!(tx.burst(&bad, &c).unwrap_err().code, Code::InvalidArgument);
    let mut bad = out;
    bad[1].flags = DESC_NEXT;
    assert!(tx.burst(&bad, &c).unwrap_err().message.contains("NEXT"));
    let three = [out[0], out[1], out[1]];
    assert!(tx
        .burst(&three, &c)
        .unwrap_err()
        .message
        .contains("allocated"));
    assert_eq!(
        p.client.ring(Dir::C2S, 0).head(Ordering::Acquire),
        0,
        "nothing sent"
    );
    assert_eq!(tx.burst(&out, &c).unwrap(), 2);
    assert_eq!(p.client.ring(Dir::C2S, 0).head(Ordering::Acquire), 2);
}

#[test]
fn indexes_wrap_around_u16_both_ways() {
    let p = pair(2, 64); // 4 slots, so 70,000 packets wrap the u16 counters
    let c = QueueCounters::default();
    let mut ctx = TxRing::of(p.client.clone(), 0);
    let mut srx = RxRing::of(p.server.clone(), 0);
    let mut stx = TxRing::of(p.server.clone(), 0);
    let mut crx = RxRing::of(p.client.clone(), 0);
    let mut d = [Desc::default(); 3];
    let mut got = [Desc::default(); 8];
    let (mut sent, mut recvd, mut back) = (0u64, 0u64, 0u64);
    while sent < 70_000 {
        let n = ctx.alloc(&mut d, &c);
        for x in d.iter_mut().take(n) {
            x.length = 1 + (sent % 64) as u32;
            sent += 1;
        }
        ctx.burst(&d[..n], &c).unwrap();
        let k = srx.burst(&mut got, &c).unwrap();
        recvd += k as u64;
        let m = stx.alloc(&mut d[..k.min(3)], &c);
        for x in d.iter_mut().take(m) {
            x.length = 7;
        }
        stx.burst(&d[..m], &c).unwrap();
        back += crx.burst(&mut got, &c).unwrap() as u64;
    }
    assert!(recvd + 4 >= sent);
    assert!(back > 60_000);
    assert_eq!(c.bad_descs.load(Ordering::Relaxed), 0);
}

#[test]
fn unread_counts_the_packets_the_peer_published_and_we_did_not_read() {
    // Server rx: 5 packets, one a 3-buffer chain; we read the first 2, then the connection ends.
    let p = pair(4, 256); // 16 slots
    let good = desc(0, 4096, 60, 0);
    let link = desc(0, 4096, 60, DESC_NEXT);
    client_push(&p, &[good, good, link, link, good, good, good]);
    let c = QueueCounters::default();
    let mut rx = server_rx(&p);
    assert_eq!(rx.unread(), 5);
    let mut out = [Desc::default(); 2];
    assert_eq!(rx.burst(&mut out, &c).unwrap(), 2);
    assert_eq!(rx.unread(), 3, "the 2 read are not unread");
    // A chain cut off where the peer stopped publishing is one packet.
    client_push(&p, &[link]);
    assert_eq!(rx.unread(), 4);
    // Client rx: what the server filled beyond what we read.
    let mut crx = RxRing::of(p.client.clone(), 0);
    server_fill(&p, &[(60, 0), (60, DESC_NEXT), (60, 0), (60, 0)]);
    assert_eq!(crx.unread(), 3);
    let mut out = [Desc::default(); 1];
    assert_eq!(crx.burst(&mut out, &c).unwrap(), 1);
    assert_eq!(crx.unread(), 2);
}

#[test]
fn unread_of_an_impossible_peer_index_is_nothing() {
    // Server rx: a head 5000 slots ahead of our tail in a 4-slot ring, or running backwards.
    for head in [5000u16, 65535, 5] {
        let p = pair(2, 256);
        let ring = p.client.ring(Dir::C2S, 0);
        for s in 0..4 {
            ring.write_desc(s, desc(0, 400, 10, 0));
        }
        ring.publish_head(head);
        assert_eq!(server_rx(&p).unread(), 0, "head {head}");
    }
    // A full ring of NEXT (a chain that never ends) is one packet, read once per slot.
    let p = pair(2, 256);
    client_push(&p, &[desc(0, 400, 10, DESC_NEXT); 4]);
    assert_eq!(server_rx(&p).unread(), 1);
    // Client rx: a tail beyond the buffers we offered.
    let p = pair(2, 256);
    p.server.ring(Dir::S2C, 0).publish_tail(40000);
    assert_eq!(RxRing::of(p.client.clone(), 0).unread(), 0);
    // Client tx: a tail past our head; server tx: a head offering more than the ring has.
    let p = pair(2, 256);
    p.server.ring(Dir::C2S, 0).publish_tail(9);
    assert_eq!(TxRing::of(p.client.clone(), 0).unread(), 0);
    for head in [5u16, 65535] {
        let p = pair(2, 256);
        let tx = TxRing::of(p.server.clone(), 0);
        p.client.ring(Dir::S2C, 0).publish_head(head);
        assert_eq!(tx.unread(), 0, "head {head}");
    }
}

/// Sends `n` one-buffer packets of 60 bytes on `tx`.
fn send(tx: &mut TxRing, c: &QueueCounters, n: usize) {
    let mut bufs = vec![Desc::default(); n];
    assert_eq!(tx.alloc(&mut bufs, c), n);
    for b in &mut bufs {
        b.length = 60;
    }
    assert_eq!(tx.burst(&bufs, c).unwrap(), n);
}

#[test]
fn unread_counts_the_packets_we_sent_and_the_peer_did_not_take() {
    let c = QueueCounters::default();
    let mut out = [Desc::default(); 16];
    // Client tx: the server reads 2 of 5 and gives them back.
    let p = pair(3, 256);
    let mut tx = TxRing::of(p.client.clone(), 0);
    send(&mut tx, &c, 5);
    assert_eq!(tx.unread(), 5);
    let mut rx = server_rx(&p);
    assert_eq!(rx.burst(&mut out[..2], &c).unwrap(), 2);
    assert_eq!(tx.unread(), 5, "read, not yet given back");
    rx.release();
    assert_eq!(tx.unread(), 3);
    // Server tx: the client reads 2 of 5 and offers their buffers again.
    let p = pair(3, 256);
    let mut tx = TxRing::of(p.server.clone(), 0);
    assert_eq!(tx.unread(), 0, "offered buffers are not unread");
    send(&mut tx, &c, 5);
    assert_eq!(tx.unread(), 5);
    let mut rx = RxRing::of(p.client.clone(), 0);
    assert_eq!(rx.burst(&mut out[..2], &c).unwrap(), 2);
    rx.release();
    assert_eq!(tx.unread(), 3);
    // Two more sent, nothing more taken.
    send(&mut tx, &c, 2);
    assert_eq!(tx.unread(), 5);
}
