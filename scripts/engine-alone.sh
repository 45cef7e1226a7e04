# Sourced by the scripts that measure the engine alone (scripts/bench-run.sh's
# line (c)): the quickstart with an empty pipeline, so that what remains is
# receive, message box, routing and durable delivery.

# engine_alone_config SRC DEST: DEST becomes a copy of the quickstart
# configuration SRC with its pipeline emptied (no signing, no encryption)
# and its input and output directories emptied.
engine_alone_config() {
  local src=$1 dest=$2
  rm -rf "$dest"
  cp -r "$src" "$dest"
  rm -rf "$dest/in"/* "$dest/out/fabrikam"/*
  perl -0pi -e 's/pipeline "sign_encrypt" \{.*?\n\}\n/pipeline "sign_encrypt" {\n}\n/s; s/^\s*encryption_certificate.*\n//m' "$dest/bizpipe.hcl"
}

# fill_inputs DIR N: N fresh random 4 KiB *.xml inputs (the quickstart's
# pattern) in DIR/in, old enough to be taken at once.
fill_inputs() {
  local dir=$1 n=$2
  rm -rf "$dir/in"/* "$dir/out/fabrikam"/*
  for i in $(seq -w 1 "$n"); do head -c 4096 /dev/urandom > "$dir/in/m$i.xml"; done
  touch -d '1 minute ago' "$dir/in"/*.xml
}

# run_once DIR BIN DATA LOG: BIN's run --once over N fresh inputs in DIR
# (fill_inputs) with a fresh message box in DATA, its stderr in LOG;
# prints "msgs/s cpu_seconds peak_rss_kib" and fails unless all N were
# delivered to DIR/out/fabrikam. Needs GNU time and bc.
run_once() {
  local dir=$1 bin=$2 data=$3 log=$4
  rm -rf "$data"
  fill_inputs "$dir" "$N"
  sync
  local start end delivered
  start=$(date +%s.%N)
  /usr/bin/time -f "measured %U %S %M" "$bin" run --once --data-dir "$data" "$dir" >/dev/null 2>"$log"
  end=$(date +%s.%N)
  delivered=$(ls "$dir/out/fabrikam" | grep -c '\.eml$' || true)
  [ "$delivered" = "$N" ] || { echo "only $delivered of $N delivered" >&2; exit 1; }
  awk -v n="$N" -v t="$(echo "$end - $start" | bc -l)" '/^measured / {printf "%.1f %.3f %d\n", n / t, $2 + $3, $4}' "$log"
}
