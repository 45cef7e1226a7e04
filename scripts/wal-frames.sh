#!/usr/bin/env bash
# Counts what the embedded message box writes to its write-ahead log during
# the engine alone (scripts/bench-run.sh's line (c): N messages of 4 KiB,
# file to file, an empty pipeline): commits, frames, and frames per table or
# index. Each frame is one page of 4 KiB written with two pwrite(2) calls,
# and a page changed by several commits is written once per commit, so this
# shows which tables and indexes cost the box its writes (and the system
# calls that are most of its CPU on a virtual machine).
#
# It runs bizpipe under strace, decodes the page number and the commit flag
# of each frame header, and names each page from SQLite's dbstat table.
# Counts are exact for one run; an strace line that a thread switch split
# ("resumed") is skipped, so the totals are a little low. Needs strace,
# sqlite3 and perl (installed with apt-get when missing).
#
#   BENCH_DIR=/mnt/bench scripts/wal-frames.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/engine-alone.sh
N=${N:-2000}
work_dir wal-frames
need strace sqlite3 perl

go build -o "$work/bizpipe" ./cmd/bizpipe
engine_alone_config examples/quickstart "$work/qsp"
fill_inputs "$work/qsp" "$N"

strace -f -y -s 24 -xx -e trace=pwrite64 -o "$work/trace" \
  "$work/bizpipe" run --once --data-dir "$work/data" "$work/qsp" >/dev/null 2>"$work/run.log"
delivered=$(ls "$work/qsp/out/fabrikam" | grep -c '\.eml$' || true)
[ "$delivered" = "$N" ] || { echo "only $delivered of $N delivered" >&2; exit 1; }
sqlite3 "$work/data/messagebox.db" 'SELECT pageno, name FROM dbstat' >"$work/pages"

echo "== write-ahead log of the engine alone, $N messages of 4 KiB"
perl -e '
  my %name;
  open(my $p, "<", $ARGV[0]) or die; while (<$p>) { chomp; my ($n, $t) = split /\|/; $name{$n} = $t }
  open(my $t, "<", $ARGV[1]) or die;
  my (%frames, $frames, $commits);
  sub unhex { my $s = shift; $s =~ s/\\x([0-9a-f]{2})/chr(hex($1))/ge; $s }
  while (<$t>) {
    next unless /pwrite64\(\d+<([^>]*)>, "([^"]*)"\.*, 24, \d+\)/;
    my ($path, $header) = ($1, $2);
    next unless unhex($path) =~ /-wal$/;
    my ($page, $commit) = unpack("NN", unhex($header));
    $frames++; $commits++ if $commit;
    $frames{$name{$page} // "page $page (freed since)"}++;
  }
  printf "%d frames in %d commits: %.2f frames per message, %.1f per commit\n",
    $frames, $commits, $frames / $ARGV[2], $commits ? $frames / $commits : 0;
  printf "%8d  %s\n", $frames{$_}, $_ for (sort { $frames{$b} <=> $frames{$a} } keys %frames)[0 .. 14];
' "$work/pages" "$work/trace" "$N" | sed '/^ *0  $/d'
