#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# Memif servers leaving under a zmemif-fwd memif client that forwards at full rate: the stress
# for the use-after-unmap race of DPDK 22.11's memif PMD (forwarder/README.md, "memif peers").
#
#   departures.sh [N]      N server departures (default 20; e2e.sh runs 20, a soak 300+)
#
# Stage (forwarder/tests/netns.sh): udpgen in the client namespace sends 64-byte UDP for memif
# as fast as it can; the forwarder (memif client) forwards it to a zmemif-peer server that also
# sends at full rate (--action both), so both of the forwarder's memif bursts are busy. The
# server shares the data-path CPU with the forwarder's lcore, so the lcore is preempted, often
# inside a burst, as on a loaded machine. Each departure: wait until memif0 is up and packets
# flow both ways, let them flow ~0.3 s, then the server leaves, SIGKILL and SIGTERM (a memif
# DISCONNECT) in turn, and a new one starts. A forwarder that dies is counted (with its signal)
# and restarted, so one run counts every crash. Prints one line:
#   departures N, forwarder crashes K (signals ...), reconnects R
# Exit code 0 when no crash and every departure was followed by a reconnect.
#
# Environment: FWD (binary, default ../build/zmemif-fwd), PEER (default
# target/release/zmemif-peer), FWD_LCORES (default 0,1), DATA_CPU (CPU of the lcore and the
# server, default 1), GEN_CPU (udpgen, default 0), KEEP=1 keeps the logs. Needs root.

set -u

here=$(cd "$(dirname "$0")" && pwd)
fwd_dir=$(dirname "$here")
root=$(dirname "$fwd_dir")
N=${1:-20}
FWD=${FWD:-$fwd_dir/build/zmemif-fwd}
PEER=${PEER:-$root/target/release/zmemif-peer}
FWD_LCORES=${FWD_LCORES:-0,1}
DATA_CPU=${DATA_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
T="python3 $here/fwdtest.py"

. "$here/netns.sh"
netns_names "${NETNS_PREFIX:-zmf-fwdd}"
tmp=$(mktemp -d /tmp/zmf-fwd-departures.XXXXXX)
sock=$tmp/memif.sock
mgmt=$tmp/mgmt.sock
fwd_pid=
peer_pid=
gen_pid=
crashes=0
signals=
reconnects=0
status=1

cleanup() {
	[ -n "$gen_pid" ] && stop_pid "$gen_pid"
	[ -n "$peer_pid" ] && stop_pid "$peer_pid"
	[ -n "$fwd_pid" ] && stop_pid "$fwd_pid"
	netns_teardown
	logs_done "$tmp" "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_root departures.sh
[ -x "$FWD" ] || make -s -C "$fwd_dir" || exit 2
[ -x "$PEER" ] || { echo "departures.sh: no $PEER (cargo build --release -p zmemif)"; exit 2; }
cc -O2 -Wall -Wextra -o "$tmp/udpgen" "$here/udpgen.c" || exit 2
netns_setup || exit 2
mac_c=$(ip -n "$ns_c" -br link show "$veth_c" | awk '{print $3}')
mac_u=$(ip -n "$ns_h" -br link show "$veth_u" | awk '{print $3}')

start_fwd() {
	rm -f "$mgmt"
	fwd_start "zmf-fwdd$ns_id" "$tmp/fwd.log" --memif-role client --memif-socket "$sock" --mgmt "$mgmt" \
		--exception none --stats-period 0
}

start_peer() {
	rm -f "$sock"
	taskset -c "$DATA_CPU" "$PEER" --role server --socket "$sock" --action both \
		--interval-ms 0 --forever >>"$tmp/peer.log" 2>&1 &
	peer_pid=$!
}

fwd_alive() {	# counts and restarts a forwarder that died
	local rc
	kill -0 "$fwd_pid" 2>/dev/null && return 0
	wait "$fwd_pid"
	rc=$?
	crashes=$((crashes + 1))
	signals+="$(kill -l $((rc > 128 ? rc - 128 : rc)) 2>/dev/null || echo "exit $rc") "
	echo "forwarder died (status $rc), restarting it" >>"$tmp/fwd.log"
	start_fwd
	return 1
}

# packets moved both ways on memif0 since the counters BEFORE ("rx tx")
flowing() {
	local now
	now=$($T mgmt "$mgmt" memif0.rx memif0.tx 2>/dev/null) || return 1
	set -- $1 $now
	[ "$3" -gt "$1" ] && [ "$4" -gt "$2" ]
}

start_fwd
ip netns exec "$ns_c" taskset -c "$GEN_CPU" "$tmp/udpgen" "$veth_c" "$mac_c" "$mac_u" \
	"$CLIENT" "$HOST" 5000 100000 16 64 0 >"$tmp/udpgen.log" 2>&1 &
gen_pid=$!
start_peer

for i in $(seq "$N"); do
	up=0
	for _ in $(seq 100); do	# up to 10 s for the reconnect (the forwarder retries every 1 s)
		if ! fwd_alive; then
			continue
		fi
		if base=$($T mgmt "$mgmt" memif0.rx memif0.tx 2>/dev/null) &&
			[ "$($T mgmt "$mgmt" memif0.link 2>/dev/null)" = up ]; then
			sleep 0.3
			if flowing "$base"; then
				up=1
				break
			fi
		fi
		sleep 0.1
	done
	[ $up = 1 ] && reconnects=$((reconnects + 1))
	if [ $((i % 2)) = 1 ]; then
		kill -KILL "$peer_pid"
	else
		kill -TERM "$peer_pid"
	fi
	wait "$peer_pid" 2>/dev/null
	sleep 0.2
	fwd_alive
	start_peer
done
# the last departure must be survived as well
sleep 0.5
fwd_alive

echo "departures $N, forwarder crashes $crashes${signals:+ (signals ${signals% })}," \
	"reconnects $reconnects"
[ $crashes -eq 0 ] && [ $reconnects -eq "$N" ] && status=0
exit $status
