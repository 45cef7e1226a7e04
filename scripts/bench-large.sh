#!/usr/bin/env bash
# Measures one large message (default 1 GiB) through `bizpipe run --once`,
# file to file, for every signature × encryption combination, next to the
# reference measured in the same run:
#   openssl cms -sign -stream -binary | openssl cms -encrypt -stream -binary
# on the same bytes. For each it prints wall time and peak RSS, then has
# OpenSSL decrypt and verify bizpipe's output and compares it with the input
# (cmp): the exact bytes must come back.
#
# SIZE (bytes) and BENCH_DIR (a file system with room for about 4 × SIZE,
# e.g. the journaled ext4 scripts/bench-run.sh describes) are overridable;
# COMBOS limits the combinations ("clear:aes256-cbc none:none ...").
# Everything happens in a temporary directory; the repository is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SIZE=${SIZE:-$((1 << 30))}
# The innermost entity's Content-Transfer-Encoding. "binary" does what the
# reference does (openssl cms -binary signs and encrypts the raw bytes);
# CTE=base64 measures the encoder's default, which base64-encodes the
# content first (a third more bytes to sign, encrypt and write).
CTE=${CTE:-binary}
COMBOS=${COMBOS:-"none:none clear:none opaque:none none:aes256-cbc clear:aes256-cbc opaque:aes256-cbc none:aes256-gcm clear:aes256-gcm opaque:aes256-gcm"}
work_dir bench-large
need time

go build -o "$work/bizpipe" ./cmd/bizpipe
head -c "$SIZE" /dev/urandom > "$work/input"
qs=examples/quickstart
p12="$qs/stores/svc_send/contoso-signing.p12"
openssl pkcs12 -in "$p12" -passin pass:demo-only -nokeys -clcerts -out "$work/signer.pem" 2>/dev/null
openssl pkcs12 -in "$p12" -passin pass:demo-only -nocerts -nodes -out "$work/signer.key" 2>/dev/null
recip="$qs/stores/srv1_other_people/fabrikam.pem"
echo "== $SIZE bytes, in $work ($(df -T "$work" | awk 'NR==2 {print $2}'))"

# reference NAME CMD...: wall seconds and peak RSS of a shell pipeline.
reference() {
  local name=$1; shift
  sync
  /usr/bin/time -f "%e %M" -o "$work/ref.time" bash -c "$*"
  read -r secs rss < "$work/ref.time"
  printf "  %-28s %6.1f s  peak RSS %7d KiB\n" "$name" "$secs" "$rss"
  rm -f "$work/ref.out"
}
echo "== reference: openssl cms -stream"
reference "openssl sign | encrypt cbc" "openssl cms -sign -stream -binary -md sha256 -signer $work/signer.pem -inkey $work/signer.key -in $work/input | openssl cms -encrypt -stream -binary -aes256 -out $work/ref.out $recip"
reference "openssl sign | encrypt gcm" "openssl cms -sign -stream -binary -md sha256 -signer $work/signer.pem -inkey $work/signer.key -in $work/input | openssl cms -encrypt -stream -binary -aes-256-gcm -out $work/ref.out $recip"

# unwrap FILE: the body of the MIME entity in FILE, transfer-decoded, to
# stdout, streaming.
unwrap='
import binascii, sys
f, out = open(sys.argv[1], "rb"), sys.stdout.buffer
b64 = False
for line in f:
    if line in (b"\r\n", b"\n"):
        break
    if line.lower().startswith(b"content-transfer-encoding:") and b"base64" in line.lower():
        b64 = True
if b64:
    for line in f:
        out.write(binascii.a2b_base64(line))
else:
    while chunk := f.read(1 << 20):
        out.write(chunk)
'
# split_signed ENTITY PART SIG: the signed part (headers included, as
# signed) and the DER signature of a multipart/signed entity, per RFC 2046:
# the CRLF before a delimiter belongs to the delimiter.
split_signed='
import base64, re, sys
d = open(sys.argv[1], "rb").read()
b = b"--" + re.search(rb"boundary=\"([^\"]+)\"", d).group(1)
start = d.index(b + b"\r\n") + len(b) + 2
end = d.index(b"\r\n" + b, start)
open(sys.argv[2], "wb").write(d[start:end])
sig = d[end + len(b) + 4:]
sig = sig[sig.index(b"\r\n\r\n") + 4:]
open(sys.argv[3], "wb").write(base64.b64decode(sig[:sig.index(b"\r\n" + b)]))
'
echo "== bizpipe run --once (receive, store durably, encode, deliver durably)"
for combo in $COMBOS; do
  sig=${combo%%:*} alg=${combo##*:}
  dir="$work/cfg"
  rm -rf "$dir" "$work/data"
  cp -r "$qs" "$dir"
  rm -rf "$dir/in"/* "$dir/out/fabrikam"/*
  encoder="signature = \"$sig\"
    content_transfer_encoding = \"$CTE\""
  [ "$alg" != none ] && encoder="$encoder
    encrypt = true
    encryption_algorithm = \"$alg\""
  perl -0pi -e "s/pipeline \"sign_encrypt\" \{.*?\n\}\n/pipeline \"sign_encrypt\" {\n  encoder \"smime\" {\n    $encoder\n  }\n}\n/s; s/(signing_certificate = .*\n)/\$1  max_message_size = \"4GiB\"\n/" "$dir/bizpipe.hcl"
  [ "$sig:$alg" = none:none ] && perl -0pi -e 's/pipeline "sign_encrypt" \{.*?\n\}\n/pipeline "sign_encrypt" {\n}\n/s; s/^\s*encryption_certificate.*\n//m' "$dir/bizpipe.hcl"
  # A copy, not a link: an input with another name is copied into the
  # message box, one with none is kept as it is (msgbox.FileBody).
  cp "$work/input" "$dir/in/big.xml"
  touch -d '1 minute ago' "$dir/in/big.xml"
  sync
  /usr/bin/time -f "%e %M" -o "$work/run.time" "$work/bizpipe" run --once --data-dir "$work/data" "$dir" >/dev/null 2>"$work/run.log" \
    || { echo "run failed:"; tail -5 "$work/run.log"; exit 1; }
  read -r secs rss < "$work/run.time"
  out=$(ls "$dir"/out/fabrikam/*.eml)
  # What OpenSSL recovers from bizpipe's output.
  check="$work/check"
  case "$sig:$alg" in
    none:none) cp "$out" "$check" ;;
    clear:*)
      # OpenSSL's S/MIME reader splits a multipart/signed entity line by
      # line in 1 KiB pieces and mangles a binary part's line ends (its own
      # output of the reference fails to verify too): the parts are taken
      # apart here as RFC 2046 says, and OpenSSL verifies the detached
      # signature over exactly those bytes.
      signed="$out"
      if [ "$alg" != none ]; then
        openssl cms -decrypt -recip "$qs/partner/fabrikam.pem" -inkey "$qs/partner/fabrikam.key" -in "$out" -binary \
          -out "$work/signed" 2>/dev/null || true
        signed="$work/signed"
      fi
      if python3 -c "$split_signed" "$signed" "$work/part" "$work/sig.der" &&
         openssl cms -verify -binary -inform DER -in "$work/sig.der" -content "$work/part" \
           -CAfile "$qs/partner/ca.pem" -out /dev/null 2>/dev/null; then
        mv "$work/part" "$check"
      fi
      rm -f "$work/signed" "$work/part" "$work/sig.der" ;;
    *:none) openssl cms -verify -CAfile "$qs/partner/ca.pem" -in "$out" -out "$check" -binary 2>/dev/null || true ;;
    none:*) openssl cms -decrypt -recip "$qs/partner/fabrikam.pem" -inkey "$qs/partner/fabrikam.key" -in "$out" -out "$check" -binary 2>/dev/null || true ;;
    *) openssl cms -decrypt -recip "$qs/partner/fabrikam.pem" -inkey "$qs/partner/fabrikam.key" -in "$out" -binary 2>"$work/openssl.err" \
         | openssl cms -verify -CAfile "$qs/partner/ca.pem" -out "$check" -binary 2>/dev/null || true ;;
  esac
  # Every stage's output wraps a MIME entity (headers, then the body in its
  # Content-Transfer-Encoding): take the body out before comparing.
  if [ "$sig:$alg" != none:none ] && [ -s "$check" ]; then
    python3 -c "$unwrap" "$check" > "$check.body" && mv "$check.body" "$check"
  fi
  verdict=FAIL
  if cmp -s "$check" "$work/input"; then verdict="exact bytes"
  elif grep -q "asn1_d2i_read_bio:malloc failure" "$work/openssl.err" 2>/dev/null; then
    # OpenSSL's S/MIME reader holds the whole DER in memory and gives up
    # near 2 GiB: opaque signing inside encryption, each layer base64, is
    # 2.6 times the input.
    verdict="not checked: openssl cannot read $(stat -c %s "$out") bytes of S/MIME"
  fi
  rm -f "$work/openssl.err"
  printf "  %-28s %6.1f s  peak RSS %7d KiB  %s\n" "$sig + $alg" "$secs" "$rss" "$verdict"
  rm -f "$check"
done
