#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# The Bun echo for forwarder tests: examples/udp_echo.ts (a UDP echo service on zmemif's UDP
# sockets) as a memif client (or server with ECHO_ROLE=server) of the forwarder, serving the UDP
# ports e2e.sh steers to memif.
#   bun-echo.sh SOCKET ID
# Runs until SIGTERM/SIGINT. ECHO_CPU: the CPU it runs on (default 0).
set -euo pipefail
sock=${1:?usage: bun-echo.sh SOCKET ID}
id=${2:?usage: bun-echo.sh SOCKET ID}
root=$(cd "$(dirname "$0")/../.." && pwd)
exec taskset -c "${ECHO_CPU:-0}" "$root/node_modules/.bin/bun" "$root/examples/udp_echo.ts" \
	--socket "$sock" --id "$id" --role "${ECHO_ROLE:-client}" --ports 5000-5099,6000-6099,7000-7099 \
	--api batch
