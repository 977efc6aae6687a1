#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
"""Traffic and counter helpers for forwarder/tests/e2e.sh (standard library only).

  fwdtest.py udp DST PORT COUNT [--flows N] [--size N]   UDP echo check, intact replies
  fwdtest.py udp-refused DST PORT                        expect ICMP port unreachable
  fwdtest.py udp-server ADDR PORT                        kernel UDP echo (IPv4 or IPv6)
  fwdtest.py ping DST COUNT                              ICMP echo over a raw socket
  fwdtest.py tcp-server ADDR PORT                        one connection, data both ways
  fwdtest.py tcp-client ADDR PORT BYTES
  fwdtest.py mgmt PATH [PORT.FIELD ...]                  counters from the forwarder
  fwdtest.py wait-link PATH PORT up|down SECONDS
Each prints one line and exits 0 on success.
"""

import hashlib
import json
import os
import select
import socket
import struct
import sys
import time


def fail(msg):
    print(msg)
    sys.exit(1)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def udp(dst, port, count, flows=1, size=64, wait=10):
    """Send COUNT datagrams spread over FLOWS source ports; every reply must come back
    from (dst, port) with exactly the payload sent."""
    socks = []
    for _ in range(flows):
        s = socket.socket(family(dst), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("::" if family(dst) == socket.AF_INET6 else "0.0.0.0", 0))
        s.setblocking(False)
        socks.append(s)
    expect = {}
    received = bad = 0
    window = 32
    sent = 0
    deadline = time.monotonic() + wait + count / 200
    while received + bad < count and time.monotonic() < deadline:
        while sent < count and sent - received - bad < window:
            s = socks[sent % flows]
            body = b"zmf%08d:" % sent
            payload = (body * (size // len(body) + 1))[:max(size, len(body))]
            expect[payload] = s.getsockname()[1]
            s.sendto(payload, (dst, port))
            sent += 1
        r, _, _ = select.select(socks, [], [], 0.5)
        for s in r:
            while True:
                try:
                    data, src = s.recvfrom(65536)
                except BlockingIOError:
                    break
                except ConnectionRefusedError:
                    bad += 1
                    continue
                want = expect.pop(data, None)
                if want is None or src[:2] != (dst, port) or want != s.getsockname()[1]:
                    bad += 1
                else:
                    received += 1
    lost = count - received - bad
    print(json.dumps({"sent": count, "replies_intact": received, "bad": bad, "lost": lost}))
    sys.exit(0 if received == count else 1)


def udp_server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("listening", flush=True)
    while True:
        data, src = s.recvfrom(65536)
        s.sendto(data, src)


def udp_refused(dst, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((dst, port))
    s.settimeout(3)
    for _ in range(3):
        s.send(b"anyone there?")
        try:
            s.recv(100)
            fail("got a reply, expected port unreachable from the kernel")
        except ConnectionRefusedError:
            print("port unreachable from the kernel, as expected")
            return
        except socket.timeout:
            continue
    fail("no port unreachable within 9 s")


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(dst, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    answered = 0
    for seq in range(1, count + 1):
        payload = b"zmemif-fwd ping %d" % seq
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
        t0 = time.monotonic()
        s.sendto(pkt, (dst, 0))
        while time.monotonic() - t0 < 2:
            r, _, _ = select.select([s], [], [], 0.2)
            if not r:
                continue
            data, src = s.recvfrom(2048)
            ihl = (data[0] & 0xF) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and rseq == seq and data[ihl + 8:] == payload:
                answered += 1
                print("reply from %s seq %d %.2f ms" % (src[0], seq,
                                                        (time.monotonic() - t0) * 1000))
                break
    print("%d/%d answered" % (answered, count))
    sys.exit(0 if answered == count else 1)


def pattern(n, seed):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def recv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        d = c.recv(min(65536, n - len(buf)))
        if not d:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def tcp_server(addr, port):
    """Accept one connection: read a length and that many bytes, answer with their sha256
    and the same number of bytes of another pattern."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(60)
    print("listening", flush=True)
    c, _ = ls.accept()
    c.settimeout(30)
    n = struct.unpack("!I", recv_exact(c, 4))[0]
    data = recv_exact(c, n)
    c.sendall(hashlib.sha256(data).digest() + pattern(n, b"server"))
    c.close()


def tcp_client(addr, port, n):
    c = socket.create_connection((addr, port), timeout=30)
    data = pattern(n, b"client")
    t0 = time.monotonic()
    c.sendall(struct.pack("!I", n) + data)
    digest = recv_exact(c, 32)
    back = recv_exact(c, n)
    c.close()
    if digest != hashlib.sha256(data).digest():
        fail("server saw different bytes than were sent")
    if back != pattern(n, b"server"):
        fail("client got different bytes than the server sent")
    print("%d bytes each way intact in %.2f s" % (n, time.monotonic() - t0))


def mgmt_read(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return json.loads(buf)


def mgmt_get(doc, key):
    """PORT.FIELD[.SUBFIELD] (memif0.tx, uplink.drops.looped) or a top-level key
    (mbufs.available)."""
    name, *fields = key.split(".")
    ports = {p["name"]: p for p in doc["ports"]}
    v = ports[name] if name in ports else doc[name]
    for f in fields:
        v = v[f]
    return v


def mgmt(path, keys):
    doc = mgmt_read(path)
    if not keys:
        print(json.dumps(doc, indent=1))
    else:
        print(" ".join(str(mgmt_get(doc, k)) for k in keys))


def wait_link(path, port, state, seconds):
    deadline = time.monotonic() + seconds
    v = None
    while time.monotonic() < deadline:
        try:
            v = mgmt_get(mgmt_read(path), port + ".link")
            if v == state:
                print("%s link %s" % (port, state))
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    fail("%s link still %s after %s s" % (port, v, seconds))


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    cmd, args = argv[1], argv[2:]
    opts, rest = {}, []
    it = iter(args)
    for a in it:
        if a.startswith("--"):
            opts[a[2:]] = int(next(it))
        else:
            rest.append(a)
    args = rest
    if cmd == "udp":
        udp(args[0], int(args[1]), int(args[2]), **opts)
    elif cmd == "udp-server":
        udp_server(args[0], int(args[1]))
    elif cmd == "udp-refused":
        udp_refused(args[0], int(args[1]))
    elif cmd == "ping":
        ping(args[0], int(args[1]))
    elif cmd == "tcp-server":
        tcp_server(args[0], int(args[1]))
    elif cmd == "tcp-client":
        tcp_client(args[0], int(args[1]), int(args[2]))
    elif cmd == "mgmt":
        mgmt(args[0], args[1:])
    elif cmd == "wait-link":
        wait_link(args[0], args[1], args[2], float(args[3]))
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv)
