#!/usr/bin/env bash
# Runs the tests of the packages that start goroutines of their own or share
# state between them (the engine, the message boxes, the transports, the
# S/MIME stage's pipeline, the language server...) under Go's race
# detector. .ci/run runs it after the README's `go test ./...`; it takes
# about 4 minutes on 2 cores. Extra arguments go to `go test` (-run, -v).
#
# Left out: packages whose code runs in one goroutine (their tests would
# take the detector's time for nothing), and two tests of the S/MIME stage
# that stream hundreds of MiB (six minutes under the detector), whose
# goroutines TestStreamLargeEnveloped runs too. cmd/bizpipe and internal/e2e
# run the same engine through the command line (internal/runner tests it
# here).
set -euo pipefail
cd "$(dirname "$0")/.."
# -timeout: the detector slows the PostgreSQL box's tests several times,
# and a loaded machine took them past go test's default 10 minutes once.
go test -race -timeout 30m -skip '^(TestDecodeStreamLarge|TestStreamBoundedMemory)$' \
  ./internal/runner/... ./internal/msgbox/... ./internal/transport/... \
  ./internal/stage/... ./internal/fanout/... ./internal/dirsync/... \
  ./internal/filelock/... ./internal/syncbuf/... ./internal/lsp/... \
  ./internal/pki/certstore/... ./internal/validate/rules/... "$@"
