#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# A memif echo made of DPDK alone (the default is the Bun echo, bun-echo.sh): dpdk-testpmd as a memif
# client in 5tswap mode (swaps MAC, IP and UDP ports: the reply goes back to the sender).
#   testpmd-echo.sh SOCKET ID
# Runs until SIGTERM/SIGINT.
#   ECHO_CPU   CPU it runs on (default 0); keep it off the forwarder's data-path CPU, two
#              busy pollers on one CPU collapse
#   ECHO_ROLE  client (default) or server, for a forwarder started with --memif-role client
set -euo pipefail
sock=${1:?usage: testpmd-echo.sh SOCKET ID}
id=${2:?usage: testpmd-echo.sh SOCKET ID}
cpu=${ECHO_CPU:-0}
role=${ECHO_ROLE:-client}
exec dpdk-testpmd --lcores="0@$cpu,1@$cpu" --no-huge -m 256 --no-pci --no-telemetry \
	--no-shconf --file-prefix "zmf-fwd-echo-$id-$$" \
	--vdev="net_memif0,role=$role,id=$id,socket=$sock,socket-abstract=no" -- \
	--total-num-mbufs=8192 --forward-mode=5tswap --stats-period 5 --auto-start
