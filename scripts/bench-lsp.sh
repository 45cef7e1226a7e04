#!/usr/bin/env bash
# Measures the language server's latency from a didChange to the
# publishDiagnostics that answers it (BenchmarkDidChange in internal/lsp),
# on examples/quickstart and on the validate benchmark configuration
# (internal/benchgen's Default: 1,000 hosts x 2 instances, 2,000 send ports,
# 200 stores). The server runs in-process with no debounce: an editor sees
# the time reported plus the debounce (lsp.DefaultDebounce, 150 ms).
#
# usage: scripts/bench-lsp.sh
#   BENCHTIME=T  go test -benchtime (default 20x)
#
# The configurations are generated in temporary directories; nothing is
# written to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg)"
go test ./internal/lsp -run '^$' -bench BenchmarkDidChange -benchmem -benchtime "${BENCHTIME:-20x}"
