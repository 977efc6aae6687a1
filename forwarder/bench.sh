#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# Forwarding benchmark (not a test): UDP packets per second from a traffic source through
# zmemif-fwd to a memif echo and back, beside dpdk-testpmd's own io forwarding over the
# same uplink, in alternating rounds of one run.
#
#   source ns: udpgen --veth--> [af_packet uplink] SUT [af_packet uplink] --veth--> counted
#   SUT "fwd":     zmemif-fwd (data path on CPU 1) + memif echo (ECHO_CMD, CPU 0)
#   SUT "testpmd": dpdk-testpmd --forward-mode=io on the uplink (forwarding lcore on CPU 1)
#
# Replies are counted as the source veth's rx_packets; they are addressed to an IPv4 address
# nobody has, so the source kernel drops them without answering. On a 2-core machine the
# generator shares CPU 0 with the echo; in testpmd rounds a busy loop takes the echo's
# place on CPU 0, so the generator gets the same share of CPU 0 in both kinds of round.
#
# Environment: ROUNDS (per SUT, default 3), SECONDS_PER_ROUND (default 5), FLOWS (default 16),
# SIZE (frame bytes, default 64), RATES (offered pps per step, 0 = as fast as the source
# can; default "50000 0"),
# GEN_CPU (default 0), ECHO_CMD (default tests/testpmd-echo.sh), FWD.

set -u

here=$(cd "$(dirname "$0")" && pwd)
FWD=${FWD:-$here/build/zmemif-fwd}
ECHO_CMD=${ECHO_CMD:-$here/tests/testpmd-echo.sh}
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_ROUND:-5}
FLOWS=${FLOWS:-16}
SIZE=${SIZE:-64}
RATES=${RATES:-50000 0}
GEN_CPU=${GEN_CPU:-0}
T="python3 $here/tests/fwdtest.py"

HOST=198.18.0.1
SRC=198.18.0.3		# not assigned anywhere: replies are dropped by the source kernel
# The names (netns_names), netns_teardown and stop_pid of the tests' stage; the namespaces are set
# up here, differently (no addresses on the source side).
. "$here/tests/netns.sh"
netns_names zmf-fwd-b
id=$ns_id
tmp=$(mktemp -d /tmp/zmf-fwd-bench.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		stop_pid "$p"
	done
	netns_teardown
	echo "logs in $tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "bench.sh needs root"; exit 2; }
[ -x "$FWD" ] || make -s -C "$here" || exit 2
cc -O2 -Wall -Wextra -o "$tmp/udpgen" "$here/tests/udpgen.c" || exit 2

ip netns add "$ns_h" && ip netns add "$ns_c" &&
ip link add "$veth_u" netns "$ns_h" type veth peer name "$veth_c" netns "$ns_c" || exit 2
ip -n "$ns_c" link set "$veth_c" up
ip -n "$ns_h" link set "$veth_u" up
ip netns exec "$ns_h" sysctl -qw net.ipv4.conf."$veth_u".arp_ignore=8 \
	net.ipv4.conf."$veth_u".rp_filter=1 net.ipv4.conf.all.rp_filter=1 \
	net.ipv6.conf."$veth_u".disable_ipv6=1
ip netns exec "$ns_c" sysctl -qw net.ipv6.conf."$veth_c".disable_ipv6=1
for x in "$ns_c:$veth_c" "$ns_h:$veth_u"; do
	ip netns exec "${x%%:*}" ethtool -K "${x#*:}" tso off gso off gro off tx off rx off \
		>/dev/null 2>&1
done
mac_c=$(ip -n "$ns_c" -br link show "$veth_c" | awk '{print $3}')
mac_u=$(ip -n "$ns_h" -br link show "$veth_u" | awk '{print $3}')
eal=(--no-huge -m 512 --no-pci --no-telemetry --no-shconf
     --vdev="net_af_packet0,iface=$veth_u")

rx_count() { ip netns exec "$ns_c" cat /sys/class/net/"$veth_c"/statistics/rx_packets; }

start_fwd() {
	ip netns exec "$ns_h" "$FWD" -l 0,1 "${eal[@]}" --file-prefix "zmf-fwd-bf$id" -- \
		--host $HOST/24 --memif-socket "$tmp/memif.sock" --mgmt "$tmp/mgmt.sock" \
		--kernel-iface "$kif" --stats-period 0 >>"$tmp/fwd.log" 2>&1 &
	sut_pid=$!
	for _ in $(seq 100); do
		$T mgmt "$tmp/mgmt.sock" uplink.link >/dev/null 2>&1 && break
		sleep 0.1
	done
	$ECHO_CMD "$tmp/memif.sock" 0 >>"$tmp/echo.log" 2>&1 &
	side_pid=$!
	$T wait-link "$tmp/mgmt.sock" memif0 up 30 >/dev/null
}

start_testpmd() {
	ip netns exec "$ns_h" dpdk-testpmd --lcores=0@0,1@1 "${eal[@]}" \
		--file-prefix "zmf-fwd-bt$id" -- --total-num-mbufs=16384 --forward-mode=io \
		--record-core-cycles --stats-period 1 --auto-start >"$tmp/testpmd.log" 2>&1 &
	sut_pid=$!
	taskset -c "$GEN_CPU" bash -c 'while :; do :; done' &
	side_pid=$!
	sleep 3
}

fwd_snapshot() {	# uplink rx, memif0 rx, memif0 tx, memif0 dropped, lcore busy cycles
	python3 - "$tmp/mgmt.sock" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
d = json.loads(s.makefile().read())
p = {x["name"]: x for x in d["ports"]}
print(p["uplink"]["rx"], p["memif0"]["rx"], p["memif0"]["tx"], p["memif0"]["dropped"],
      sum(l["busy_cycles"] for l in d["lcores"]))
EOF
}

round() {	# round KIND RATE N
	local kind=$1 rate=$2 n=$3 r0 r1 gen sent s0="" s1="" cpp=""
	start_$kind
	sleep 1
	[ "$kind" = fwd ] && s0=$(fwd_snapshot)
	r0=$(rx_count)
	gen=$(ip netns exec "$ns_c" taskset -c "$GEN_CPU" "$tmp/udpgen" "$veth_c" "$mac_c" \
		"$mac_u" $SRC $HOST 5000 "$DUR" "$FLOWS" "$SIZE" "$rate")
	sleep 0.5
	r1=$(rx_count)
	[ "$kind" = fwd ] && s1=$(fwd_snapshot)
	stop_pid "$side_pid"
	stop_pid "$sut_pid"
	if [ "$kind" = testpmd ]; then
		# testpmd --record-core-cycles: busy cycles per received packet, printed at exit
		cpp=$(grep -o 'CPU cycles/packet=[0-9.]*' "$tmp/testpmd.log" | tail -1 | cut -d= -f2)
	fi
	sent=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['sent'])" "$gen")
	python3 - "$kind" "$rate" "$n" "$sent" "$((r1 - r0))" "$DUR" "$s0" "$s1" "${cpp:-0}" \
		"$tmp/results" <<'EOF'
import sys
kind, rate, n, sent, back, dur, s0, s1, cpp, results = sys.argv[1:11]
sent, back, dur, cpp = int(sent), int(back), float(dur), float(cpp)
line = "%-7s rate %-6s round %s: offered %7.0f pps, returned %7.0f pps (%5.1f%%)" % (
    kind, rate if rate != "0" else "max", n, sent / dur, back / dur,
    100.0 * back / max(sent, 1))
if s0 and s1:
    d = [b - a for a, b in zip(map(int, s0.split()), map(int, s1.split()))]
    passes = d[0] + d[1]
    cpp = d[4] / passes if passes else 0
    line += ", uplink rx %d, to memif %d, memif drops %d, from memif %d" % (
        d[0], d[2], d[3], d[1])
line += ", %.0f cycles/packet/pass" % cpp
print(line, flush=True)
with open(results, "a") as f:
    f.write("%s %s %d %d %.1f\n" % (kind, rate, sent, back, cpp))
EOF
}

echo "zmemif-fwd bench: $ROUNDS alternating rounds per SUT and rate, ${DUR} s each," \
	"$FLOWS flows, $SIZE-byte frames, source on CPU $GEN_CPU, echo: $ECHO_CMD"
for rate in $RATES; do
	for n in $(seq "$ROUNDS"); do
		round fwd "$rate" "$n"
		round testpmd "$rate" "$n"
	done
done

python3 - "$tmp/results" "$DUR" <<'EOF'
import statistics, sys
dur = float(sys.argv[2])
res = {}
for line in open(sys.argv[1]):
    kind, rate, sent, back, cpp = line.split()
    res.setdefault(rate, {}).setdefault(kind, []).append(
        (int(sent) / dur, int(back) / dur, float(cpp)))
med = lambda v, i: statistics.median(x[i] for x in v)
print()
print("medians             offered   returned  returned%  cycles/pkt/pass")
for rate, kinds in res.items():
    for kind in ("fwd", "testpmd"):
        v = kinds.get(kind)
        if v:
            print("%-7s rate %-6s %9.0f %10.0f  %8.1f%%  %8.0f" % (
                kind, rate if rate != "0" else "max", med(v, 0), med(v, 1),
                100 * med(v, 1) / max(med(v, 0), 1), med(v, 2)))
    if "fwd" in kinds and "testpmd" in kinds:
        f, t = med(kinds["fwd"], 1), med(kinds["testpmd"], 1)
        print("  rate %s: returned pps, fwd+echo / testpmd io = %.2f (a packet crosses the "
              "forwarder twice, testpmd once)" % (rate if rate != "0" else "max",
                                                   f / t if t else 0))
EOF
