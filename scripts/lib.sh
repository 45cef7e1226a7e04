# Sourced by the scripts in scripts/: what several of them do the same way.

# need TOOL...: installs with apt-get each TOOL (a Debian package of the
# same name) that is not on the PATH.
need() {
  local tool
  # type -P, not command -v: that finds the shell keyword time.
  for tool in "$@"; do type -P "$tool" >/dev/null || apt-get install -y -qq "$tool" >/dev/null; done
}

# build_ref REVISION OUT: builds bizpipe as of REVISION into OUT, from an
# export of that revision's tree beside OUT: git records nothing, and the
# removal of OUT's (temporary) directory takes it away.
build_ref() {
  local src; src="$(dirname "$2")/ref-src"
  mkdir "$src"
  git archive "$1" | tar -x -C "$src"
  (cd "$src" && go build -o "$2" ./cmd/bizpipe)
}

# median: the line of stdin whose first field is the median (the lower of
# the two middle ones for an even count), with that line's other fields.
median() { sort -n | awk '{l[NR] = $0} END {print l[int((NR + 1) / 2)]}'; }

# as_pg CMD...: runs CMD as the postgres user when run as root (initdb and
# postgres refuse to run as root), as it is otherwise.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# work_dir NAME: sets work to a new temporary directory NAME.XXXXXX under
# BENCH_DIR (or TMPDIR, or /tmp), open to the postgres user for pg_start,
# and removes it at exit, stopping first the PostgreSQL pg_start may have
# started in it.
work_dir() {
  work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/$1.XXXXXX")
  chmod 755 "$work"
  trap 'pg_stop "$work"; rm -rf "$work"' EXIT
}

# pg_start DIR: a PostgreSQL of its own in DIR/pg (DIR must be readable by
# the postgres user), listening on 127.0.0.1 at a random port; sets pgbin
# and pg_port. pg_stop DIR stops it; pg_db NAME makes database NAME afresh
# and prints its URL.
pg_start() {
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
  pg_port=$((20000 + RANDOM % 20000))
  mkdir -p "$1/pg"; chown postgres: "$1/pg" 2>/dev/null || true
  as_pg "$pgbin/initdb" -D "$1/pg" -U bizpipe --auth=trust >/dev/null
  as_pg "$pgbin/pg_ctl" -D "$1/pg" -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $1/pg" -l "$1/pg/log" -w start >/dev/null
}
pg_stop() {
  if [ -f "$1/pg/postmaster.pid" ]; then as_pg "$pgbin/pg_ctl" -D "$1/pg" -m immediate stop >/dev/null 2>&1 || true; fi
}
pg_db() {
  as_pg "$pgbin/dropdb" --if-exists -h 127.0.0.1 -p "$pg_port" -U bizpipe "$1" >/dev/null 2>&1
  as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U bizpipe "$1"
  echo "postgres://bizpipe@127.0.0.1:$pg_port/$1"
}

# pg_box_hcl prints the configuration of a postgres message box whose URL
# is the sensitive variable database_url (BIZPIPE_VAR_database_url).
pg_box_hcl() {
  cat <<'HCL'
variable "database_url" {
  type      = string
  sensitive = true
}
message_box {
  postgres { url = var.database_url }
}
HCL
}

# pg_box DIR: a PostgreSQL of its own in $work (pg_start) holding the
# database soak, made afresh, as the message box of the configuration in
# DIR: its URL in BIZPIPE_VAR_database_url (exported), the box in
# DIR/box.hcl (pg_box_hcl).
pg_box() {
  pg_start "$work"
  BIZPIPE_VAR_database_url=$(pg_db soak)
  export BIZPIPE_VAR_database_url
  pg_box_hcl > "$1/box.hcl"
}
