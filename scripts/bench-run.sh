#!/usr/bin/env bash
# Measures `bizpipe run --once` end to end (issue 3): 2,000 messages of 4 KiB,
# RSA-2048 clear sign + AES-256-CBC, file to file, on the quickstart's demo
# PKI. Prints it next to
#   (a) the ceiling: the same sign+encrypt in a tight in-process loop on all
#       cores (BenchmarkSignEncrypt4KiB), and
#   (b) a shell loop of `openssl cms -sign | openssl cms -encrypt` per message,
#   (c) the engine alone: the same run with an empty pipeline, whose CPU per
#       message, added to the ceiling's, bounds what run can reach,
# and the peak RSS of one run --once over a single 100 MiB message.
# Everything happens in a temporary directory; the repository is not touched.
#
# BENCH_DIR puts that directory on another file system, e.g. a freshly made
# journaled ext4 (the common production setup) instead of whatever /tmp is:
#   truncate -s 2G /tmp/ext4.img && mkfs.ext4 -q /tmp/ext4.img
#   mkdir -p /mnt/bench && mount -o loop /tmp/ext4.img /mnt/bench
#   BENCH_DIR=/mnt/bench scripts/bench-run.sh
# (ext4 without a journal, as some VM images use, makes every file creation
# after many deletions scan the recently freed inodes: slow for any
# file-to-file engine, as the CPU profile shows in the kernel's
# find_inode_bit.)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
SHELL_N=${SHELL_N:-200}   # the shell loop is slow: time a sample, scale up
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
for tool in time bc; do command -v $tool >/dev/null || apt-get install -y -qq $tool >/dev/null; done

go build -o "$work/bizpipe" ./cmd/bizpipe
cp -r examples/quickstart "$work/qs"
rm -rf "$work/qs/in"/* "$work/qs/out/fabrikam"/*
# The quickstart takes *.xml; generate N random 4 KiB bodies.
for i in $(seq -w 1 "$N"); do head -c 4096 /dev/urandom > "$work/qs/in/m$i.xml"; done
touch -d '1 minute ago' "$work/qs/in"/*.xml

echo "== run --once: $N messages of 4 KiB (clear sign RSA-2048 + AES-256-CBC, file to file)"
start=$(date +%s.%N)
/usr/bin/time -f "peak RSS %M KiB, CPU %U s user + %S s system" "$work/bizpipe" run --once --data-dir "$work/data" "$work/qs" 2>"$work/run.log" | tail -1
end=$(date +%s.%N)
grep "peak RSS" "$work/run.log"
run_rate=$(echo "$N / ($end - $start)" | bc -l)
printf "run --once: %.1f s, %.0f msgs/s\n" "$(echo "$end - $start" | bc -l)" "$run_rate"
delivered=$(ls "$work/qs/out/fabrikam" | grep -c '\.eml$' || true)
[ "$delivered" = "$N" ] || { echo "only $delivered of $N delivered"; exit 1; }

# The engine alone: the same run with an empty pipeline (no signing, no
# encryption), so what remains is receive, message box, routing and durable
# delivery. Its CPU per message plus the ceiling's gives the most run could
# reach with every core busy: the bound printed at the end.
echo "== (c) the engine alone: the same run --once with an empty pipeline"
rm -rf "$work/qsp" && cp -r "$work/qs" "$work/qsp" && rm -rf "$work/qsp/out/fabrikam"/* "$work/qsp/in"/*
perl -0pi -e 's/pipeline "sign_encrypt" \{.*?\n\}\n/pipeline "sign_encrypt" {\n}\n/s; s/^\s*encryption_certificate.*\n//m' "$work/qsp/bizpipe.hcl"
for i in $(seq -w 1 "$N"); do head -c 4096 /dev/urandom > "$work/qsp/in/m$i.xml"; done
touch -d '1 minute ago' "$work/qsp/in"/*.xml
start=$(date +%s.%N)
/usr/bin/time -f "cpu %U %S" "$work/bizpipe" run --once --data-dir "$work/datap" "$work/qsp" 2>"$work/runp.log" | tail -1
end=$(date +%s.%N)
engine_rate=$(echo "$N / ($end - $start)" | bc -l)
engine_cpu=$(awk '/^cpu / {print $2 + $3}' "$work/runp.log")
printf "engine alone: %.0f msgs/s, %.2f ms CPU per message\n" "$engine_rate" "$(echo "1000 * $engine_cpu / $N" | bc -l)"
rm -rf "$work/qsp" "$work/datap"

echo "== (a) ceiling: in-process sign+encrypt on $(nproc) cores"
ceiling=$(go test ./engine/pipeline -run '^$' -bench SignEncrypt4KiB -benchtime 5s | tee /dev/stderr | awk '/msgs\/s/ {for (i=1;i<=NF;i++) if ($i=="msgs/s") print $(i-1)}')

echo "== (b) shell loop: openssl cms -sign | openssl cms -encrypt, $SHELL_N messages"
p12="$work/qs/stores/svc_send/contoso-signing.p12"
openssl pkcs12 -in "$p12" -passin pass:demo-only -nokeys -clcerts -out "$work/signer.pem" 2>/dev/null
openssl pkcs12 -in "$p12" -passin pass:demo-only -nocerts -nodes -out "$work/signer.key" 2>/dev/null
recip="$work/qs/stores/srv1_other_people/fabrikam.pem"
mkdir -p "$work/shell"
i=0
start=$(date +%s.%N)
for f in "$work"/qs/out/fabrikam/*.eml; do
  i=$((i+1)); [ $i -gt "$SHELL_N" ] && break
  head -c 4096 /dev/urandom | openssl cms -sign -signer "$work/signer.pem" -inkey "$work/signer.key" -md sha256 \
    | openssl cms -encrypt -aes256 -out "$work/shell/$i.eml" "$recip"
done
end=$(date +%s.%N)
shell_rate=$(echo "$SHELL_N / ($end - $start)" | bc -l)
printf "shell loop: %.0f msgs/s\n" "$shell_rate"

printf "\nrun --once %.0f msgs/s = %.0f %% of the ceiling (%.0f msgs/s), %.1fx the shell loop (%.0f msgs/s)\n" \
  "$run_rate" "$(echo "100 * $run_rate / $ceiling" | bc -l)" "$ceiling" "$(echo "$run_rate / $shell_rate" | bc -l)" "$shell_rate"
# ncpu / (crypto CPU + engine CPU per message): every core busy, no waiting.
bound=$(echo "$(nproc) / ($(nproc) / $ceiling + $engine_cpu / $N)" | bc -l)
printf "bound with every core busy (ceiling's CPU + the engine's per message): %.0f msgs/s = %.0f %% of the ceiling; run --once reaches %.0f %% of it\n" \
  "$bound" "$(echo "100 * $bound / $ceiling" | bc -l)" "$(echo "100 * $run_rate / $bound" | bc -l)"

echo "== peak memory: one 100 MiB message"
rm -rf "$work/qs/in"/* "$work/qs/out/fabrikam"/* "$work/data"
head -c $((100 << 20)) /dev/urandom > "$work/qs/in/big.xml"
touch -d '1 minute ago' "$work/qs/in/big.xml"
/usr/bin/time -f "peak RSS %M KiB, %e s" "$work/bizpipe" run --once --data-dir "$work/data" "$work/qs" 2>"$work/big.log" | tail -1
grep "peak RSS" "$work/big.log"
