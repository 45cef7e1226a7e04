#!/usr/bin/env bash
# Measures the streaming smime encoder stage (issue 10 item 3) on one large
# file against OpenSSL's streaming pipeline on the same bytes:
#
#   openssl cms -sign -stream -binary | openssl cms -encrypt -stream -binary -aes256
#
# and the stage (RSA-2048 clear signature, SHA-256, binary transfer
# encoding, then AES-256-CBC and AES-256-GCM enveloping), each writing an
# S/MIME file. Prints wall time, CPU time (user+system: the fairer figure on
# a busy machine) and peak RSS (/usr/bin/time; for the openssl pipeline CPU
# and RSS are the sums over both processes) and the ratios, then has openssl
# decrypt and verify the stage's output and compares the recovered body with
# the input (cmp). Clear-signed binary data needs "-binary -crlfeol" to
# verify (see TestOpenSSLTransferEncodings); -noverify skips only the
# certificate chain (self-signed here), not the signature.
#
# SIZE_MIB sets the file size (default 1024). Everything happens in a
# temporary directory under BENCH_DIR (default TMPDIR or /tmp); it needs
# about 5 times the size in free space.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SIZE_MIB=${SIZE_MIB:-1024}
work_dir bench-stream
need time
T=/usr/bin/time

go build -o "$work/streambench" ./internal/stage/smime/internal/streambench
cd "$work"
for who in signer recip; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout $who.key -out $who.pem \
		-subj "/CN=bench $who" -days 2 2>/dev/null
done
head -c $((SIZE_MIB << 20)) /dev/urandom >in.bin
sync

# wall seconds, max RSS KiB and CPU seconds of one command: "secs kib cpu"
F='%e %M %U %S'
measure() { # out-file cmd...
	local f=$1
	shift
	$T -f "$F" -o "$f" "$@"
}
cpu() { awk '{printf "%.2f", $3 + $4}' "$1"; }

# OpenSSL: both processes timed separately for RSS; wall for the pipeline.
start=$(date +%s.%N)
$T -f "$F" -o t.sign openssl cms -sign -stream -binary -md sha256 -in in.bin \
	-signer signer.pem -inkey signer.key |
	$T -f "$F" -o t.enc openssl cms -encrypt -stream -binary -aes256 -out openssl.eml recip.pem
end=$(date +%s.%N)
o_wall=$(echo "$end - $start" | bc -l)
o_rss=$(($(cut -d' ' -f2 t.sign) + $(cut -d' ' -f2 t.enc)))
o_cpu=$(echo "$(cpu t.sign) + $(cpu t.enc)" | bc -l)

for alg in aes256-cbc aes256-gcm; do
	measure t.$alg ./streambench -in in.bin -out $alg.eml -signer-cert signer.pem \
		-signer-key signer.key -recip recip.pem -signature clear -alg $alg -cte binary
done

printf '\n%s MiB, RSA-2048 clear signature (SHA-256) + envelope\n' "$SIZE_MIB"
printf '%-30s %8s %8s %12s %10s %9s %9s\n' "" "wall s" "CPU s" "max RSS KiB" "wall/ossl" "CPU/ossl" "RSS/ossl"
printf '%-30s %8.2f %8.2f %12d %10s %9s %9s\n' "openssl sign|encrypt -aes256" "$o_wall" "$o_cpu" "$o_rss" 1 1 1
for alg in aes256-cbc aes256-gcm; do
	read -r w m _ <t.$alg
	c=$(cpu t.$alg)
	printf '%-30s %8.2f %8.2f %12d %10.2f %9.2f %9.2f\n' "bizpipe stage $alg" "$w" "$c" "$m" \
		"$(echo "$w / $o_wall" | bc -l)" "$(echo "$c / $o_cpu" | bc -l)" "$(echo "$m / $o_rss" | bc -l)"
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs)"

# The stage's output must decrypt and verify with openssl to the input: the
# verified content is our innermost entity, whose header is stripped.
hdr=$'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'
for alg in aes256-cbc aes256-gcm; do
	if ! openssl cms -decrypt -in $alg.eml -recip recip.pem -inkey recip.key 2>verify.err |
		openssl cms -verify -binary -crlfeol -noverify -out $alg.content 2>>verify.err; then
		cat verify.err >&2
		echo "FAIL: $alg: openssl cannot decrypt and verify the output" >&2
		exit 1
	fi
	if ! head -c ${#hdr} $alg.content | cmp -s - <(printf '%s' "$hdr"); then
		echo "FAIL: $alg: unexpected entity header" >&2
		exit 1
	fi
	if tail -c +$((${#hdr} + 1)) $alg.content | cmp - in.bin; then
		echo "ok: openssl decrypts and verifies the $alg output to the input bytes"
	else
		echo "FAIL: $alg: openssl recovered different bytes" >&2
		exit 1
	fi
	rm -f $alg.content
done
