#!/usr/bin/env python3
"""The kernel's side of the zmemif UDP tests (standard library only; run inside a netns).

  udp_kernel.py capture IFACE COUNT TIMEOUT_S   print COUNT IPv4/IPv6 UDP frames (or fragments)
                                                seen on IFACE, one JSON line each: {"hex": ...}
  udp_kernel.py send ADDR PORT SIZE...          send one datagram of each SIZE from a kernel
                                                socket (payload: pattern(SIZE)), print "sent"
  udp_kernel.py recv ADDR PORT COUNT TIMEOUT_S [IDLE_S]
                                                print "ready", then one JSON line per datagram
                                                received: {"src", "port", "len", "sha"}, then
                                                "done N" (after COUNT, TIMEOUT_S, or IDLE_S
                                                without a datagram)
  udp_kernel.py inject IFACE                    send every hex frame read from stdin (one per
                                                line) out of IFACE with AF_PACKET, print "injected N"
  udp_kernel.py csum-errors                     print UDP InCsumErrors for IPv4 and IPv6
  udp_kernel.py echo ADDR PORT                  a kernel UDP echo server (prints "ready")
  udp_kernel.py client ADDR PORT COUNT SIZE     a kernel UDP client: COUNT datagrams, each
                                                answered intact within 2 s; prints JSON stats
  udp_kernel.py ask ADDR PORT TEXT              send TEXT, print the reply as JSON
                                                {"len", "sha", "src", "port"} (2 s, else exit 1)
"""

import hashlib
import json
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003


def pattern(n, seed=0):
    return bytes((seed * 31 + i * 7 + (i >> 8)) & 0xFF for i in range(n))


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def is_udp_frame(f):
    if len(f) < 14:
        return False
    et = int.from_bytes(f[12:14], "big")
    if et == 0x0800 and len(f) >= 34:
        return f[23] == 17
    if et == 0x86DD and len(f) >= 54:
        return f[20] in (17, 44)
    return False


def capture(iface, count, timeout):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    got = 0
    while got < count and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        frame, addr = s.recvfrom(65536)
        if addr[2] == socket.PACKET_OUTGOING or not is_udp_frame(frame):
            continue
        print(json.dumps({"hex": frame.hex()}), flush=True)
        got += 1
    print("done %d" % got, flush=True)


def send(addr, port, sizes):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    for i, n in enumerate(sizes):
        s.sendto(pattern(n, i), (addr, port))
        time.sleep(0.01)
    print("sent", flush=True)


def recv(addr, port, count, timeout, idle=None):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((addr, port))
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    got = 0
    last = None
    while got < count and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            # with IDLE: stop once nothing came for that long (a datagram with a bad checksum
            # is only found, and counted, when a read reaches it: keep reading until then)
            if idle is not None and last is not None and time.monotonic() - last > idle:
                break
            continue
        last = time.monotonic()
        data, src = s.recvfrom(65536)
        print(json.dumps({"src": src[0], "port": src[1], "len": len(data),
                          "sha": hashlib.sha256(data).hexdigest()}), flush=True)
        got += 1
    print("done %d" % got, flush=True)


def inject(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    n = 0
    for line in sys.stdin:
        line = line.strip()
        if line:
            s.send(bytes.fromhex(line))
            n += 1
    print("injected %d" % n, flush=True)


def csum_errors():
    out = {}
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    out["ipv4"] = int(rows[1][rows[0].index("InCsumErrors")])
    with open("/proc/net/snmp6") as f:
        for l in f:
            k, v = l.split()
            if k == "Udp6InCsumErrors":
                out["ipv6"] = int(v)
    print(json.dumps(out), flush=True)


def echo(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        data, src = s.recvfrom(65536)
        s.sendto(data, src)


def client(addr, port, count, size):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(2)
    ok = bad = lost = 0
    rtts = []
    for i in range(count):
        payload = pattern(size, i)
        t0 = time.monotonic()
        s.sendto(payload, (addr, port))
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            lost += 1
            continue
        rtts.append((time.monotonic() - t0) * 1e6)
        if data == payload and src[0] == addr and src[1] == port:
            ok += 1
        else:
            bad += 1
    rtts.sort()
    p50 = rtts[len(rtts) // 2] if rtts else -1
    print(json.dumps({"sent": count, "ok": ok, "bad": bad, "lost": lost, "p50_us": round(p50)}),
          flush=True)
    sys.exit(0 if ok == count else 1)


def ask(addr, port, text):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(text.encode(), (addr, port))
    try:
        data, src = s.recvfrom(65536)
    except socket.timeout:
        print("no reply")
        sys.exit(1)
    print(json.dumps({"len": len(data), "sha": hashlib.sha256(data).hexdigest(), "src": src[0],
                      "port": src[1]}), flush=True)


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        sys.exit(2)
    cmd = a[0]
    if cmd == "capture":
        capture(a[1], int(a[2]), float(a[3]))
    elif cmd == "send":
        send(a[1], int(a[2]), [int(x) for x in a[3:]])
    elif cmd == "recv":
        recv(a[1], int(a[2]), int(a[3]), float(a[4]), float(a[5]) if len(a) > 5 else None)
    elif cmd == "inject":
        inject(a[1])
    elif cmd == "csum-errors":
        csum_errors()
    elif cmd == "echo":
        echo(a[1], int(a[2]))
    elif cmd == "client":
        client(a[1], int(a[2]), int(a[3]), int(a[4]))
    elif cmd == "ask":
        ask(a[1], int(a[2]), a[3])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
