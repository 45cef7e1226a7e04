# Sourced by the scripts in scripts/: what several of them do the same way.

# need TOOL...: installs with apt-get each TOOL (a Debian package of the
# same name) that is not on the PATH.
need() {
  local tool
  for tool in "$@"; do command -v "$tool" >/dev/null || apt-get install -y -qq "$tool" >/dev/null; done
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
