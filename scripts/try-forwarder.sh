#!/usr/bin/env bash
# Try the zmemif forwarder without a spare NIC: the runnable version of forwarder/README.md.
#
#   bash scripts/try-forwarder.sh [COUNT]      (as root; COUNT datagrams, default 20)
#
# 1. two network namespaces joined by a veth (forwarder/tests/netns.sh): the veth end in the
#    "host" namespace stands in for the NIC, the other end is a kernel UDP client's network;
# 2. the forwarder (forwarder/build/zmemif-fwd) on that veth through DPDK's net_af_packet, host
#    address 192.0.2.1/24, UDP port 5000 steered to memif, everything else to the kernel (TAP);
# 3. the Bun UDP echo service (examples/udp_echo.ts) as the forwarder's memif client;
# 4. a kernel UDP client (forwarder/tests/fwdtest.py) in the other namespace sends COUNT
#    datagrams to 192.0.2.1:5000 and checks every echo; ping goes to the kernel through the TAP;
# 5. everything is stopped by pid and removed: processes, namespaces, veth, TAP, sockets.
# Builds the forwarder (make -C forwarder) and the library (cargo build --release -p zmemif) when
# they are missing; DPDK and Bun come from scripts/install-deps.sh. Exit code 0 when every
# datagram came back. TRY_PREFIX (≤ 9 characters) names the namespaces and interfaces.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COUNT=${1:-20}
case $COUNT in --help | -h) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
if [[ ! $COUNT =~ ^[1-9][0-9]*$ ]]; then
	echo "try-forwarder.sh: COUNT must be a positive integer, got '$COUNT'" >&2
	exit 2
fi

say() { printf '[try-forwarder] %s\n' "$*"; }
die() { printf '[try-forwarder] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, DPDK): run it with sudo"
for cmd in ip ethtool python3 taskset; do
	command -v $cmd >/dev/null || die "needs $cmd: run scripts/install-deps.sh"
done
FWD=$ROOT/forwarder/build/zmemif-fwd
BUN=$ROOT/node_modules/.bin/bun
[[ -x $BUN ]] || die "Bun is missing ($BUN): run scripts/install-deps.sh"
if [[ ! -f $ROOT/target/release/libzmemif.so ]]; then
	say "building the library: cargo build --release -p zmemif"
	(cd "$ROOT" && cargo build --release -p zmemif)
fi
if [[ ! -x $FWD ]]; then
	say "building the forwarder: make -C forwarder"
	make -s -C "$ROOT/forwarder"
fi
T="python3 $ROOT/forwarder/tests/fwdtest.py"

. "$ROOT/forwarder/tests/netns.sh"
netns_names "${TRY_PREFIX:-zmf-try}"
tmp=$(mktemp -d /tmp/zmemif-try-forwarder.XXXXXX)
sock=$tmp/memif.sock
mgmt=$tmp/mgmt.sock
fwd_pid=
echo_pid=

cleanup() {
	local rc=$?
	set +e
	say "tearing down"
	[[ -n $echo_pid ]] && stop_pid "$echo_pid"
	[[ -n $fwd_pid ]] && stop_pid "$fwd_pid"
	netns_teardown
	rm -rf "$tmp"
	rm -rf "/var/run/dpdk/$ns_h"
	say "removed namespaces $ns_h $ns_c, stopped pids ${fwd_pid:--} (forwarder) ${echo_pid:--} (echo)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "1. namespaces $ns_h (forwarder) and $ns_c (client), veth $veth_u <-> $veth_c"
netns_setup || die "could not create the namespaces and the veth"

say "2. forwarder on $veth_u (net_af_packet), host $HOST/24, UDP 5000 -> memif $sock"
fwd_start "$ns_h" "$tmp/fwd.log" --memif-ports 1 --udp-ports 5000 --memif-socket "$sock" \
	--mgmt "$mgmt" --kernel-iface "$kif" --stats-period 0
for _ in $(seq 100); do
	$T mgmt "$mgmt" uplink.link >/dev/null 2>&1 && break
	kill -0 "$fwd_pid" 2>/dev/null || { cat "$tmp/fwd.log"; die "the forwarder exited"; }
	sleep 0.1
done
say "   forwarder pid $fwd_pid; kernel interface $kif has $HOST (ping and TCP go there)"

say "3. Bun echo: bun examples/udp_echo.ts --socket $sock --host $HOST --ports 5000"
taskset -c 0 "$BUN" "$ROOT/examples/udp_echo.ts" --socket "$sock" --id 0 --host "$HOST" \
	--ports 5000 >"$tmp/echo.log" 2>&1 &
echo_pid=$!
if ! $T wait-link "$mgmt" memif0 up 30 >/dev/null; then
	cat "$tmp/echo.log"
	die "the echo did not connect to the forwarder"
fi
say "   echo pid $echo_pid connected: memif0 up"

say "4. kernel client in $ns_c: $COUNT UDP datagrams to $HOST:5000, then ping $HOST"
ok=0
ip netns exec "$ns_c" $T udp "$HOST" 5000 "$COUNT" --size 64 && ok=1
ip netns exec "$ns_c" $T ping "$HOST" 2 || true
say "   forwarder counters: memif0 steered/tx/rx $($T mgmt "$mgmt" memif0.steered memif0.tx memif0.rx)"
if [[ $ok -eq 1 ]]; then
	say "every datagram came back through DPDK, memif and Bun"
else
	say "datagrams were lost; logs: forwarder, then echo"
	cat "$tmp/fwd.log" "$tmp/echo.log"
	exit 1
fi
