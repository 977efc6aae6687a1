#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# End-to-end test of zmemif-fwd, in two network namespaces it creates and removes:
#
#   client ns                      host ns
#   kernel UDP/TCP/ICMP client --- veth --- af_packet uplink -- zmemif-fwd -- memif0 -- echo 0
#   192.0.2.2                                                      |      \-- memif1 -- echo 1
#                                          kernel (TAP, 192.0.2.1) +
#
# The echo peers are pluggable: ECHO_CMD is started as `$ECHO_CMD SOCKET ID` (word-split),
# must connect to SOCKET as memif client with interface id ID, answer every UDP frame with
# MACs, IPv4 addresses and UDP ports swapped, and run until SIGTERM. Default: the Bun echo
# (tests/bun-echo.sh: examples/udp_echo.ts on zmemif's UDP sockets); tests/testpmd-echo.sh is
# dpdk-testpmd in 5tswap mode. ECHO_SERVER_CMD, started the same way, is the
# same echo as memif server, for the last part where the forwarder runs as memif client.
#
# Environment: FWD (binary, default ../build/zmemif-fwd, built with make if missing),
# ECHO_CMD, FWD_LCORES (EAL -l, default 0,1: control on CPU 0, data path on CPU 1),
# ECHO_CPU (default 0, read by testpmd-echo.sh), KEEP=1 keeps the logs directory.
# Needs root, python3, iproute2, ethtool. Exit code 0 when every check passed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
fwd_dir=$(dirname "$here")
FWD=${FWD:-$fwd_dir/build/zmemif-fwd}
ECHO_CMD=${ECHO_CMD:-$here/bun-echo.sh}
ECHO_SERVER_CMD=${ECHO_SERVER_CMD:-env ECHO_ROLE=server $here/bun-echo.sh}
FWD_LCORES=${FWD_LCORES:-0,1}
T="python3 $here/fwdtest.py"

# The namespaces, veth and their settings: shared with scripts/try-forwarder.sh.
. "$here/netns.sh"
netns_names "${NETNS_PREFIX:-zmf-fwd}"
tmp=$(mktemp -d /tmp/zmf-fwd-e2e.XXXXXX)
sock=$tmp/memif.sock
mgmt=$tmp/mgmt.sock

passed=0
failed=0
fwd_pid=
declare -A echo_pid
bg_pids=()

log() { printf '%s\n' "$*"; }

check() {	# check NAME COMMAND...: one result line
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	out=${out//$'\n'/ | }
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		log "PASS  $name: ${out:0:300}"
	else
		failed=$((failed + 1))
		log "FAIL  $name: ${out:0:600}"
	fi
	return $rc
}

in_c() { ip netns exec "$ns_c" "$@"; }
in_h() { ip netns exec "$ns_h" "$@"; }
counters() { $T mgmt "$mgmt" "$@"; }

cleanup() {
	local id p
	for id in "${!echo_pid[@]}"; do
		stop_pid "${echo_pid[$id]}"
	done
	for p in "${bg_pids[@]}"; do
		stop_pid "$p"
	done
	[ -n "$fwd_pid" ] && stop_pid "$fwd_pid"
	netns_teardown
	logs_done "$tmp" "$failed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_echo() {	# start_echo ID
	$ECHO_CMD "$sock" "$1" >"$tmp/echo$1.log" 2>&1 &
	echo_pid[$1]=$!
}

stop_echo() {
	stop_pid "${echo_pid[$1]}"
	unset "echo_pid[$1]"
}

eventually() {	# eventually SECONDS COMMAND...: COMMAND until it succeeds, at most SECONDS; its last output
	local end=$((SECONDS + $1)) out rc
	shift
	while :; do
		out=$("$@" 2>&1) && { echo "$out"; return 0; }
		rc=$?
		((SECONDS < end)) || { echo "$out (still failing after the time limit)"; return $rc; }
		sleep 0.1
	done
}

listening() {	# listening LOG: a fwdtest.py server wrote its "listening" line to LOG
	grep -qx listening "$1"
}

stop_fwd() {	# SIGTERM to the forwarder, at most 30 s for it to exit (then SIGKILL); its exit status in rc
	local i
	kill -TERM "$fwd_pid"
	for i in $(seq 300); do
		kill -0 "$fwd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$fwd_pid" 2>/dev/null; then
		log "forwarder still running 30 s after SIGTERM: SIGKILL"
		kill -KILL "$fwd_pid"
	fi
	wait "$fwd_pid"
	rc=$?
	fwd_pid=
}

delta_is() {	# delta_is "WANT..." "BEFORE..." "AFTER...": after - before == want, pairwise
	local -a w=($1) b=($2) a=($3)
	local i d bad=0 out=""
	for i in "${!b[@]}"; do
		d=$((a[i] - b[i]))
		out+="$d "
		[ "$d" -eq "${w[i]:-${w[0]}}" ] || bad=1
	done
	echo "deltas ${out}(want ${w[*]})"
	return $bad
}

# ---- prerequisites ------------------------------------------------------------------------
need_root e2e.sh
for cmd in ip ethtool python3; do
	command -v $cmd >/dev/null || { log "e2e.sh needs $cmd"; exit 2; }
done
if [ ! -x "$FWD" ]; then
	make -s -C "$fwd_dir" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 2; }
fi
log "forwarder: $FWD"
log "echo:      $ECHO_CMD SOCKET ID"
log "server echo: $ECHO_SERVER_CMD SOCKET ID"

# ---- refused command lines (no EAL needed) -----------------------------------------------
refused() {	# refused 'expected text' ARGS...: non-zero exit and a message naming it
	local want=$1 out
	shift
	out=$("$FWD" -- "$@" 2>&1) && { echo "accepted: $*"; return 1; }
	grep -q -- "$want" <<<"$out" || { echo "message lacks '$want': $out"; return 1; }
	echo "$out"
}
check "refuses a missing --host" refused "--host" --memif-ports 1
check "refuses --memif-ports 0" refused "--memif-ports" --host $HOST/24 --memif-ports 0
check "refuses a memif index beyond --memif-ports" refused "--udp-ports" \
	--host $HOST/24 --memif-ports 2 --udp-ports 5000:2
check "refuses socket mode on an abstract socket" refused "abstract" \
	--host $HOST/24 --memif-socket @zmf-fwd-x --memif-socket-mode 0600
check "refuses more memif ports than the tx lcores serve" bash -c \
	"out=\$('$FWD' -l $FWD_LCORES --no-huge -m 64 --no-pci --no-telemetry --no-shconf \
	--file-prefix zmf-fwd-r$ns_id --vdev=net_null0 --log-level=lib.eal:error -- \
	--host $HOST/24 --memif-ports 40 --exception none --mgmt none \
	--memif-socket $tmp/refused.sock 2>&1) && exit 1; echo \"\$out\" | grep -- '--memif-ports 40'"

# ---- namespaces (forwarder/tests/netns.sh) ------------------------------------------------
netns_setup || exit 2

# ---- forwarder ----------------------------------------------------------------------------
fwd_start "zmf-fwd-e2e$ns_id" "$tmp/fwd.log" --memif-ports 2 --udp-ports 5000-5099:0,6000:1,7000-7099 \
	--memif-socket "$sock" --mgmt "$mgmt" --kernel-iface "$kif" --stats-period 0
check "forwarder answers on its management socket" bash -c \
	"for i in \$(seq 100); do $T mgmt '$mgmt' uplink.link 2>/dev/null && exit 0; \
	kill -0 $fwd_pid || exit 1; sleep 0.1; done; exit 1" || { cat "$tmp/fwd.log"; exit 1; }
check "kernel interface has the host address and the uplink MAC" bash -c \
	"ip -n $ns_h -br addr show $kif | grep -q ' $HOST/24' && \
	[ \"\$(ip -n $ns_h -br link show $kif | awk '{print \$3}')\" = \
	\"\$(ip -n $ns_h -br link show $veth_u | awk '{print \$3}')\" ] && \
	ip -n $ns_h -br link show $kif"
check "memif socket is a filesystem socket, mode 660" bash -c \
	"test -S '$sock' && test \$(stat -c %a '$sock') = 660 && stat -c '%A %n' '$sock'"

start_echo 0
start_echo 1
check "memif0 peer connected" $T wait-link "$mgmt" memif0 up 30
check "memif1 peer connected" $T wait-link "$mgmt" memif1 up 30

mbufs_start=$(counters mbufs.available)

# ---- UDP through memif --------------------------------------------------------------------
check "UDP to $HOST:5000 echoed intact through memif" in_c $T udp $HOST 5000 200 --size 200
check "UDP 1400-byte datagrams echoed intact" in_c $T udp $HOST 5001 50 --size 1400

# ---- exception path -------------------------------------------------------------------------
check "ping $HOST answered by the kernel through the TAP" in_c $T ping $HOST 3
# Started directly (not through the in_h function, whose & would fork a subshell and leave
# the server orphaned when that subshell is killed): $! is the server itself.
ip netns exec "$ns_h" $T tcp-server $HOST 7100 >"$tmp/tcp-server.log" 2>&1 &
bg_pids+=($!)
check "TCP server listening" eventually 20 listening "$tmp/tcp-server.log"
check "TCP to $HOST:7100 carries data both ways" in_c $T tcp-client $HOST 7100 262144
check "UDP to an unsteered port reaches the kernel (port unreachable)" \
	in_c $T udp-refused $HOST 9999
in_h ip -6 addr add $HOST6/64 dev "$kif" nodad
ip netns exec "$ns_h" $T udp-server $HOST6 5000 >"$tmp/udp6-server.log" 2>&1 &
bg_pids+=($!)
check "UDP6 server listening" eventually 20 listening "$tmp/udp6-server.log"
check "UDP over IPv6 to port 5000 goes to the kernel, not memif" in_c $T udp $HOST6 5000 20

# ---- steering and counters ----------------------------------------------------------------
keys="memif0.steered memif0.tx memif0.rx memif1.steered memif1.tx memif1.rx"
before=$(counters $keys)
check "port steering: 50 datagrams to 5050" in_c $T udp $HOST 5050 50
check "port steering: 30 datagrams to 6000" in_c $T udp $HOST 6000 30
after=$(counters $keys)
check "JSON counters: memif0 +50 and memif1 +30 (steered, tx, rx)" \
	delta_is "50 50 50 30 30 30" "$before" "$after"

before=$(counters memif0.steered memif1.steered uplink.rx kernel.steered)
check "hash steering: 400 datagrams in 16 flows to 7000" \
	in_c $T udp $HOST 7000 400 --flows 16
after=$(counters memif0.steered memif1.steered uplink.rx kernel.steered)
check "hash steering: used both memif ports, sum matches" python3 -c "
b=[int(x) for x in '$before'.split()]; a=[int(x) for x in '$after'.split()]
d=[y-x for x,y in zip(b,a)]
print('memif0 +%d, memif1 +%d, uplink rx +%d, kernel +%d' % tuple(d))
exit(0 if d[0] > 0 and d[1] > 0 and d[0] + d[1] == 400 and d[2] >= 400 else 1)"
check "no drops on the data path" python3 -c "
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect('$mgmt')
doc = json.loads(s.makefile().read())
d = {p['name']: p['drops'] for p in doc['ports'] if p['dropped']}
print(d or 'none'); exit(1 if d else 0)"

# ---- memif peer goes away and comes back ---------------------------------------------------
stop_echo 0
check "memif0 link down after its peer left" $T wait-link "$mgmt" memif0 down 10
before=$(counters memif0.drops.peer_down)
in_c $T udp $HOST 5000 10 --wait 1 >/dev/null 2>&1
after=$(counters memif0.drops.peer_down)
check "datagrams for an absent peer counted as peer_down" delta_is 10 "$before" "$after"
start_echo 0
check "memif0 peer reconnected without a restart" $T wait-link "$mgmt" memif0 up 30
check "UDP echoed again after the reconnect" in_c $T udp $HOST 5000 100

# ---- operations ---------------------------------------------------------------------------
mbufs_back() { delta_is 0 "$mbufs_start" "$(counters mbufs.available)"; }
check "every mbuf back in the pool after the traffic" eventually 10 mbufs_back
kill -USR1 $fwd_pid
check "SIGUSR1 prints the counters" eventually 10 grep -m1 "counters after" "$tmp/fwd.log"

stop_fwd
for id_ in "${!echo_pid[@]}"; do
	stop_echo "$id_"
done
check "SIGTERM: forwarder exits 0" test $rc -eq 0
check "SIGTERM: sockets removed, kernel interface gone" bash -c \
	"! test -e '$sock' && ! test -e '$mgmt' && ! ip -n $ns_h link show $kif 2>/dev/null"

# ---- who may connect: --memif-allow-uid --------------------------------------------------
# The socket is open to every uid (mode 0666 in a directory others may traverse), so the
# allow-list is what refuses uid 64715 (a uid with no account, via setpriv; /usr/bin/python3, as
# a python3 under /root is not theirs to run) and admits the echo.
chmod 711 "$tmp"
usock=$tmp/memif-allow.sock
fwd_start "zmf-fwd-e2u$ns_id" "$tmp/fwd-allow.log" --memif-socket "$usock" --memif-socket-mode 0666 \
	--memif-allow-uid 0 --mgmt "$mgmt" --kernel-iface "$kif" --stats-period 0
check "allow-uid: the PMD's accepts reach the credential check" bash -c \
	"for i in \$(seq 100); do grep -m1 'checked against the allow-list' '$tmp/fwd-allow.log' \
	&& exit 0; kill -0 $fwd_pid || exit 1; sleep 0.1; done; exit 1"
check "allow-uid: uid 64715 refused with a DISCONNECT saying why" \
	setpriv --reuid=64715 --regid=64715 --clear-groups /usr/bin/python3 -c "
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.settimeout(5); s.connect('$usock')
m = s.recv(128); t = struct.unpack_from('<H', m)[0]; r = m[6:102].split(b'\0')[0].decode()
print('message type %d: %s' % (t, r)); exit(0 if t == 8 and r == 'uid 64715 not allowed (allowed: 0)' else 1)"
$ECHO_CMD "$usock" 0 >"$tmp/echo-allow.log" 2>&1 &
echo_pid[u]=$!
check "allow-uid: the echo (uid 0) connects" $T wait-link "$mgmt" memif0 up 30
check "allow-uid: UDP echoed intact" in_c $T udp $HOST 5000 50
check "allow-uid: JSON shows the peer and the refusal" python3 -c "
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect('$mgmt')
d = json.loads(s.makefile().read()); peers, ref = d['memif_peers'], d['memif_refused']
print(peers, ref)
exit(0 if [p['uid'] for p in peers] == [0] and ref['count'] >= 1 and ref['last']['uid'] == 64715 else 1)"
stop_fwd
stop_echo u
check "allow-uid: SIGTERM exits 0" test $rc -eq 0

# ---- forwarder as memif client of a server echo ------------------------------------------
csock=$tmp/memif-server.sock
start_server_echo() {
	rm -f "$csock"
	$ECHO_SERVER_CMD "$csock" 0 >>"$tmp/echo-server.log" 2>&1 &
	echo_pid[s]=$!
}
fwd_start "zmf-fwd-e2c$ns_id" "$tmp/fwd-client.log" --memif-role client --memif-socket "$csock" \
	--mgmt "$mgmt" --kernel-iface "$kif" --stats-period 0
check "client role: forwarder starts while its server is absent" \
	$T wait-link "$mgmt" uplink up 10
start_server_echo
check "client role: connects once the server is up" $T wait-link "$mgmt" memif0 up 30
check "client role: UDP echoed intact" in_c $T udp $HOST 5000 100
stop_echo s
check "client role: link down after the server left" $T wait-link "$mgmt" memif0 down 10
start_server_echo
check "client role: reconnects to the restarted server" $T wait-link "$mgmt" memif0 up 30
check "client role: UDP echoed again after the reconnect" in_c $T udp $HOST 5000 100
stop_echo s
stop_fwd
check "client role: SIGTERM exits 0" test $rc -eq 0

# ---- memif servers leaving under full-rate traffic (tests/departures.sh) -------------------
# DPDK 22.11's memif PMD unmaps a connection's rings from its interrupt thread while an lcore may
# be inside a burst on them; the forwarder's close()/munmap() wait for the lcores (quiesce.c).
# Before that, 18 departures in 220 crashed the forwarder on this stage (SIGSEGV).
check "client role: 20 servers leave under full-rate traffic, the forwarder survives them all" \
	bash "$here/departures.sh" 20

# Tests stop what they start, by pid: afterwards nothing of ours runs in the namespaces.
for p in "${bg_pids[@]}"; do
	stop_pid "$p"
done
bg_pids=()
check "nothing left running in the namespaces" bash -c \
	"left=\$(ip netns pids $ns_h; ip netns pids $ns_c); [ -z \"\$left\" ] && echo none || \
	{ ps -o pid,args -p \$(echo \$left | tr ' ' ,); exit 1; }"

log "$passed passed, $failed failed"
[ $failed -eq 0 ]
