#!/usr/bin/env bash
# Smoke-tests the Windows build of bizpipe under Wine (see the README's
# "Platforms"): builds bizpipe.exe from this checkout, runs the README's
# quickstart with it under Wine, and checks that
#
#   - run --once prints "received 2, delivered 2";
#   - two .eml files land in out/fabrikam;
#   - "bizpipe.exe messages list --status delivered", under Wine, lists both
#     messages, the one from ORDER-1001.XML among them: its input is renamed
#     to upper case to prove that the pattern "*.xml" matches case-insensitively
#     on Windows, as it must there;
#   - OpenSSL on Linux decrypts and verifies each output as the partner would
#     (the README's commands), and the bodies are the two sample orders.
#
# Why: the test suite is Linux-only and there is no Windows machine here;
# Wine 8 (Debian 12) runs the Windows build once two of its gaps are bridged,
# both only inside this script's temporary directory (the user's ~/.wine and
# Go installation are not touched):
#
#   1. Wine 8.0 has no bcryptprimitives.dll!ProcessPrng, which every Go 1.26
#      Windows binary needs to start. A stand-in DLL, built here with mingw
#      from the C source below, goes into a private WINEPREFIX.
#   2. Wine 8.0 rejects NtSetInformationFile(FileDispositionInformationEx)
#      with STATUS_INVALID_DEVICE_REQUEST ("Invalid function"), which Go
#      1.26's os.Remove/os.RemoveAll use, falling back to the older call only
#      for the statuses real Windows versions return. A probe program finds
#      out whether the installed Go and Wine still need it; if so, bizpipe is
#      built with a copy of GOROOT whose fallback is forced on (see below).
#
# Run it from anywhere, as root on a fresh Debian 12 (it installs wine,
# wine64, gcc-mingw-w64-x86-64 and openssl with apt-get if missing), with Go
# 1.26 on the PATH:
#
#   scripts/wine-smoke.sh
#
# It prints "wine smoke: ok" and exits 0, or exits non-zero with the reason.
# Everything happens in a temporary directory under BENCH_DIR (default TMPDIR
# or /tmp), removed at exit; it needs about 400 MB (the GOROOT copy). It
# takes about 30 s with a warm Go build cache, 2 to 3 minutes with a cold one
# (the Windows build of bizpipe and the standard library). It passes
# "shellcheck -x" (-x to follow scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

fail() {
	echo "wine smoke: FAIL: $*" >&2
	exit 1
}
# show FILE...: prints the files' last lines (logs) to stderr, for a failure.
show() {
	local f
	for f in "$@"; do
		echo "--- $f" >&2
		tail -n 40 "$f" >&2 || true
	done
}

if ! type -P wine >/dev/null || ! type -P x86_64-w64-mingw32-gcc >/dev/null; then
  apt-get update -qq >/dev/null # a fresh image has no package lists
  type -P wine >/dev/null || apt-get install -y -qq wine wine64 >/dev/null
  type -P x86_64-w64-mingw32-gcc >/dev/null || apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null
fi
need openssl
go version | grep -q ' go1\.' || fail "no go on the PATH"

work_dir wine-smoke
export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all
# No Mono or Gecko installer dialogs when the prefix is made.
export WINEDLLOVERRIDES="mscoree,mshtml="
# Stop the prefix's wineserver before the temporary directory goes.
trap 'wineserver -k >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# winpath PATH: the Windows name of the absolute Linux PATH (Wine's Z: drive).
winpath() { printf 'Z:%s' "${1//\//\\}"; }
start=$SECONDS

# The private prefix.
timeout 300 wineboot -i >"$work/wineboot.log" 2>&1 || {
	show "$work/wineboot.log"
	fail "wineboot could not make the prefix $WINEPREFIX"
}
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || fail "no $sys32 after wineboot"

# 1. The stand-in bcryptprimitives.dll. ProcessPrng (Windows 10+) fills the
# buffer with random bytes from the system RNG and cannot fail; this one
# takes them from Wine's BCryptGenRandom (bcrypt.dll, the system preferred
# RNG: Wine reads them from the host's getrandom), in chunks because that
# takes a ULONG length, and returns FALSE if it ever fails (Go then throws
# rather than run with a short buffer).
mkdir "$work/dll"
cat >"$work/dll/bcp.c" <<'C'
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
C
printf 'LIBRARY bcryptprimitives\nEXPORTS\nProcessPrng\n' >"$work/dll/bcp.def"
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$work/dll/bcryptprimitives.dll" \
	"$work/dll/bcp.c" "$work/dll/bcp.def" -lbcrypt ||
	fail "could not build the stand-in bcryptprimitives.dll"
cp "$work/dll/bcryptprimitives.dll" "$sys32/"

# 2. The probe: removes a temporary directory with a file in it, as bizpipe
# does; built with the installed Go, does it work under this Wine?
mkdir "$work/probe"
cat >"$work/probe/main.go" <<'GO'
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	d, err := os.MkdirTemp("", "probe")
	if err == nil {
		err = os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644)
	}
	if err == nil {
		err = os.RemoveAll(d)
	}
	if err != nil {
		fmt.Println("probe:", err)
		os.Exit(1)
	}
	fmt.Println("probe: ok")
}
GO
# probe GO: builds the probe with the toolchain GO and runs it under Wine.
probe() {
	(cd "$work/probe" && GOOS=windows GOARCH=amd64 GOTOOLCHAIN=local "$1" build -o probe.exe main.go) ||
		fail "could not build the probe with $1"
	timeout 120 wine "$work/probe/probe.exe" >"$work/probe/out" 2>"$work/probe/err" &&
		grep -q 'probe: ok' "$work/probe/out"
}
go=go
if probe go; then
	echo "wine smoke: the installed Go runs under this Wine as it is"
elif ! grep -q '^probe: ' "$work/probe/out"; then
	show "$work/probe/out" "$work/probe/err"
	fail "the probe does not start under Wine (is the stand-in bcryptprimitives.dll loaded?)"
else
	# The minimal patch: Go's internal/syscall/windows.Deleteat already falls
	# back to the pre-Windows-10 deletion (FileDispositionInformation, which
	# Wine 8 has) when TestDeleteatFallback is set; set it from the start.
	goroot=$(go env GOROOT)
	f=src/internal/syscall/windows/at_windows.go
	echo "wine smoke: under this Wine the installed Go fails: $(tr -d '\r' <"$work/probe/out")"
	grep -q '^var TestDeleteatFallback bool$' "$goroot/$f" ||
		fail "$goroot/$f has no 'var TestDeleteatFallback bool' to patch (a Go this script does not know)"
	echo "wine smoke: building with a patched copy of $goroot"
	cp -a "$goroot" "$work/goroot"
	sed -i 's/^var TestDeleteatFallback bool$/var TestDeleteatFallback = true \/\/ wine-smoke.sh: for Wine 8/' \
		"$work/goroot/$f"
	go="$work/goroot/bin/go"
	probe "$go" || {
		show "$work/probe/out" "$work/probe/err"
		fail "the probe fails under Wine even with the patched Go"
	}
fi

# bizpipe.exe, from this checkout.
GOOS=windows GOARCH=amd64 GOTOOLCHAIN=local "$go" build -o "$work/bizpipe.exe" ./cmd/bizpipe ||
	fail "could not build bizpipe.exe"
echo "wine smoke: built bizpipe.exe ($(($(stat -c %s "$work/bizpipe.exe") >> 20)) MiB) in $((SECONDS - start)) s"

# The quickstart, on a copy: ORDER-1001.XML (upper case) and order-1002.xml
# in in/, their times in the past so that they are settled at once.
q="$work/quickstart"
cp -r examples/quickstart "$q"
rm -rf "$q/in" "$q/out" && mkdir -p "$q/in" "$q/out/fabrikam"
cp "$q/samples/order-1001.xml" "$q/in/ORDER-1001.XML"
cp "$q/samples/order-1002.xml" "$q/in/order-1002.xml"
touch -d '1 hour ago' "$q"/in/*
data=$(winpath "$work/data")
qw=$(winpath "$q")
exe=$(winpath "$work/bizpipe.exe")

rc=0
timeout 300 wine "$exe" run --once --data-dir "$data" "$qw" >"$work/run.out" 2>"$work/run.err" || rc=$?
if [ "$rc" != 0 ]; then
	show "$work/run.out" "$work/run.err"
	fail "bizpipe.exe run --once exited $rc under Wine"
fi
summary=$(tr -d '\r' <"$work/run.out")
echo "wine smoke: run --once: $summary"
grep -q 'received 2, delivered 2,' <<<"$summary" || {
	show "$work/run.err"
	fail "run --once did not say 'received 2, delivered 2'"
}
n=$(find "$q/in" -type f | wc -l)
[ "$n" = 0 ] || fail "$n files left in in/ (not taken)"

shopt -s nullglob
emls=("$q"/out/fabrikam/*.eml)
[ "${#emls[@]}" = 2 ] || fail "${#emls[@]} .eml files in out/fabrikam, not 2"

timeout 300 wine "$exe" messages list --status delivered --data-dir "$data" "$qw" \
	>"$work/list.out" 2>"$work/list.err" || {
	show "$work/list.out" "$work/list.err"
	fail "bizpipe.exe messages list failed under Wine"
}
list=$(tr -d '\r' <"$work/list.out")
printf '%s\n' "$list"
[ "$(awk '$2 == "delivered"' <<<"$list" | wc -l)" = 2 ] ||
	fail "messages list does not list 2 delivered messages"
awk '$2 == "delivered" && $5 == "ORDER-1001.XML" {ok = 1} END {exit !ok}' <<<"$list" ||
	fail "messages list does not show ORDER-1001.XML delivered"

# The partner's side: decrypt, verify (the README's commands), and compare
# the bodies (base64 after the signed entity's header) with the samples.
p="$q/partner"
sums=()
for f in "${emls[@]}"; do
	timeout 60 openssl cms -decrypt -recip "$p/fabrikam.pem" -inkey "$p/fabrikam.key" -in "$f" \
		-out "$f.signed" 2>"$f.err" || { show "$f.err"; fail "openssl cannot decrypt $f"; }
	timeout 60 openssl cms -verify -CAfile "$p/ca.pem" -in "$f.signed" -out "$f.entity" 2>"$f.err" || {
		show "$f.err"
		fail "openssl cannot verify the signature in $f"
	}
	grep -q 'Verification successful' "$f.err" || fail "openssl did not verify $f"
	grep -qi '^Content-Type: application/xml' "$f.entity" || fail "$f: the signed entity is not application/xml"
	tr -d '\r' <"$f.entity" | awk 'body; /^$/ {body = 1}' | base64 -d >"$f.body" ||
		fail "$f: the signed entity's body is not base64"
	sums+=("$(sha256sum <"$f.body" | cut -d' ' -f1)")
done
want=$(for s in "$q"/samples/order-100[12].xml; do sha256sum <"$s" | cut -d' ' -f1; done | sort)
got=$(printf '%s\n' "${sums[@]}" | sort)
[ "$got" = "$want" ] || fail "the decrypted bodies are not the two sample orders"
echo "wine smoke: openssl decrypted and verified both outputs: the sample orders"

echo "wine smoke: ok ($((SECONDS - start)) s)"
