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
