#!/usr/bin/env bash
# Measures `bizpipe validate` on the benchmark configuration of
# internal/benchgen (benchgen.Default: 1,000 hosts x 2 instances on 50
# servers, 2,000 send ports, 200 certificate stores of about 10 certificates,
# PEM, DER and password-protected PKCS#12): wall time, CPU time and peak
# resident set size of the CLI over several runs, then the Go benchmark
# BenchmarkValidate (scale=0.25, 0.5 and 1).
#
# Target (issue): under 1 s and under 256 MiB peak on a 2-core machine.
#
# usage: scripts/bench-validate.sh [RUNS]     (default 5 runs)
#   BENCH_COUNT=N   go test -count for the Go benchmark (default 1)
#   BENCHTIME=T     go test -benchtime (default 5x: an iteration takes ~1 s)
#   SKIP_GO_BENCH=1 skip the Go benchmark
#   NICE=N          run the measured commands under nice -n N (e.g. -20, as
#                   root, to measure on a machine that other jobs keep busy)
#
# Everything is built and generated in a temporary directory, removed on exit;
# nothing is written to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
target_ms=1000
target_kib=$((256 * 1024))

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-validate.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ ! -x /usr/bin/time ]]; then
	echo "installing GNU time for /usr/bin/time -v ..." >&2
	apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$work/bizpipe" ./cmd/bizpipe
go run ./internal/benchgen/cmd/benchgen "$work/config"

# One run to warm the page cache, and to check the configuration is clean.
if ! "$work/bizpipe" validate "$work/config" >"$work/out"; then
	echo "bizpipe validate failed on the generated configuration:" >&2
	cat "$work/out" >&2
	exit 1
fi

# seconds prints GNU time's "h:mm:ss" or "m:ss.ss" as seconds.
seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.3f", s }' <<<"$1"; }
field() { sed -n "s/^[[:space:]]*$1: //p" "$work/time"; }

nice=()
if [[ -n ${NICE:-} ]]; then
	nice=(nice -n "$NICE")
fi
walls=()
rss_max=0
for i in $(seq "$runs"); do
	"${nice[@]}" /usr/bin/time -v "$work/bizpipe" validate "$work/config" >"$work/out" 2>"$work/time"
	wall=$(seconds "$(field 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
	user=$(field 'User time (seconds)')
	sys=$(field 'System time (seconds)')
	rss=$(field 'Maximum resident set size (kbytes)')
	printf 'run %d: wall %6.3f s   cpu %5.2f s (user %s + sys %s)   Maximum resident set size %d KiB (%.1f MiB)\n' \
		"$i" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$user" "$sys" "$rss" "$(awk "BEGIN{print $rss/1024}")"
	walls+=("$wall")
	((rss > rss_max)) && rss_max=$rss
done

median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
best=$(printf '%s\n' "${walls[@]}" | sort -n | head -1)
verdict() { if [[ $1 == 1 ]]; then echo "met"; else echo "MISSED"; fi; }
echo "wall: best $best s, median $median s (target < $((target_ms / 1000)) s: $(verdict "$(awk "BEGIN{print ($median*1000 < $target_ms)}")"))"
echo "peak RSS: $rss_max KiB = $(awk "BEGIN{printf \"%.1f\", $rss_max/1024}") MiB (target < 256 MiB: $(verdict "$(awk "BEGIN{print ($rss_max < $target_kib)}")"))"

if [[ -z ${SKIP_GO_BENCH:-} ]]; then
	echo
	go test -c -o "$work/rules.test" ./internal/validate/rules
	(cd internal/validate/rules && "${nice[@]}" "$work/rules.test" -test.run '^$' -test.bench BenchmarkValidate -test.benchmem \
		-test.benchtime "${BENCHTIME:-5x}" -test.count "${BENCH_COUNT:-1}")
fi
