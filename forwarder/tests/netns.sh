# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# The forwarder's stage without a NIC, shared by tests/e2e.sh, tests/departures.sh and
# scripts/try-forwarder.sh (source it; bash). Two network namespaces joined by a veth:
#
#   $ns_c (client)                     $ns_h (host)
#   kernel UDP client  $veth_c --- $veth_u  af_packet uplink of zmemif-fwd  (+ its TAP $kif)
#   $CLIENT                                 the host address $HOST lives on the TAP
#
# netns_names PREFIX   sets ns_h ns_c veth_u veth_c kif (PREFIX ≤ 9 characters + a random id,
#                      so names stay within Linux's 15) and ns_id (that id)
# netns_setup          creates them; returns non-zero if it cannot
# netns_teardown       removes them (and with them the veth and the TAP)
# fwd_start NAME LOG ARGS...
#                      starts $FWD (lcores $FWD_LCORES, default 0,1) in $ns_h on the uplink $veth_u,
#                      without hugepages or PCI, EAL file prefix NAME; ARGS follow
#                      `--host $HOST/24`; output appended to LOG; sets fwd_pid
# stop_pid PID         SIGTERM, SIGKILL after 5 s; tests stop what they start, by pid
# need_root NAME       exits 2 (saying NAME needs root) unless run as root
# logs_done DIR FAILED removes the logs directory DIR, or keeps it (saying so) when FAILED is not
#                      0 or KEEP=1
#
# Two things make a veth stand in for a NIC (see forwarder/README.md): the kernel in $ns_h must
# ignore the uplink veth (with a NIC bound to DPDK it never sees it), and af_packet passes frames
# on as the stack left them, so offloads are off on both ends.

HOST=${HOST:-192.0.2.1}
CLIENT=${CLIENT:-192.0.2.2}
HOST6=${HOST6:-2001:db8:5::1}
CLIENT6=${CLIENT6:-2001:db8:5::2}

netns_names() {
	local prefix=$1 id
	id=$(printf '%04x' $((RANDOM)))
	ns_h=$prefix-h$id
	ns_c=$prefix-c$id
	veth_u=$prefix-u$id
	veth_c=$prefix-v$id
	kif=$prefix-k$id
	ns_id=$id
}

netns_setup() {
	ip netns add "$ns_h" && ip netns add "$ns_c" &&
		ip link add "$veth_u" netns "$ns_h" type veth peer name "$veth_c" netns "$ns_c" || return 1
	ip -n "$ns_c" link set lo up &&
		ip -n "$ns_c" addr add "$CLIENT/24" dev "$veth_c" &&
		ip -n "$ns_c" -6 addr add "$CLIENT6/64" dev "$veth_c" nodad &&
		ip -n "$ns_c" link set "$veth_c" up &&
		ip -n "$ns_h" link set lo up &&
		ip -n "$ns_h" link set "$veth_u" up || return 1
	# arp_ignore=8: no ARP replies on the uplink; rp_filter=1: the host address lives on the
	# TAP, so IPv4 arriving on the veth is dropped; no IPv6 on it.
	ip netns exec "$ns_h" sysctl -qw net.ipv4.conf."$veth_u".arp_ignore=8 \
		net.ipv4.conf."$veth_u".rp_filter=1 net.ipv4.conf.all.rp_filter=1 \
		net.ipv6.conf."$veth_u".disable_ipv6=1 || return 1
	ip netns exec "$ns_c" ethtool -K "$veth_c" tso off gso off gro off tx off rx off >/dev/null 2>&1
	ip netns exec "$ns_h" ethtool -K "$veth_u" tso off gso off gro off tx off rx off >/dev/null 2>&1
	return 0
}

netns_teardown() {
	[ -z "${ns_c:-}" ] || ip netns del "$ns_c" 2>/dev/null || true
	[ -z "${ns_h:-}" ] || ip netns del "$ns_h" 2>/dev/null || true
	return 0
}

fwd_start() {
	local name=$1 log=$2
	shift 2
	# Not in a subshell: $! is the forwarder, a child of the caller's shell (which may wait for it).
	ip netns exec "$ns_h" "$FWD" -l "${FWD_LCORES:-0,1}" --no-huge -m 512 --no-pci --no-telemetry \
		--no-shconf --file-prefix "$name" --vdev="net_af_packet0,iface=$veth_u" -- \
		--host "$HOST/24" "$@" >>"$log" 2>&1 &
	fwd_pid=$!
}

stop_pid() {	# TERM, then KILL after 5 s; waits for it (our own child)
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

need_root() {
	[ "$(id -u)" = 0 ] && return 0
	echo "$1 needs root (network namespaces)"
	exit 2
}

logs_done() {
	if [ "${KEEP:-0}" = 1 ] || [ "$2" != 0 ]; then
		echo "logs kept in $1"
	else
		rm -rf "$1"
	fi
}
