#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2025 zmemif authors
#
# The Bun echo for forwarder tests: examples/udp_swap_echo.ts (zmemif's Bun API) as a memif
# client (or server with ECHO_ROLE=server) of the forwarder.
#   bun-echo.sh SOCKET ID
# Runs until SIGTERM/SIGINT. ECHO_CPU: the CPU it runs on (default 0).
set -euo pipefail
sock=${1:?usage: bun-echo.sh SOCKET ID}
id=${2:?usage: bun-echo.sh SOCKET ID}
root=$(cd "$(dirname "$0")/../.." && pwd)
exec taskset -c "${ECHO_CPU:-0}" "$root/node_modules/.bin/bun" "$root/examples/udp_swap_echo.ts" \
	--socket "$sock" --id "$id" --role "${ECHO_ROLE:-client}"
