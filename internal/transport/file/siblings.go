package file

import (
	"os"
	"path/filepath"
	"sync"
)

// Siblings are the file receive locations of one process, all under its
// one Owner: what tells a location whether a claim of this owner's that its
// own pattern does not take is another location's to recover, or no one's
// (see Poller). A Poller adds itself (NewPoller); the runner builds all of
// its locations before it starts any.
type Siblings struct {
	mu   sync.Mutex
	locs []sibling
	// reported are the claims already reported as recovered by none, by
	// name (unique: see claim.go), so that locations sharing a directory
	// report each once.
	reported map[string]bool
}

// sibling is a location as Siblings knows it.
type sibling struct {
	location, dir string
	match         string // its pattern as names are matched with (matchPattern)
}

func (s *Siblings) add(location, dir, match string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locs = append(s.locs, sibling{location: location, dir: dir, match: match})
}

// takenBy returns another location than location that polls dir (by its
// name, or as the same directory on the server: a symbolic link) and takes
// a file named name. Directories are looked at only when their names
// differ: takeOver asks it of every other server's claim it meets.
func (s *Siblings) takenBy(location, dir, name string) (string, bool) {
	s.mu.Lock()
	locs := s.locs
	s.mu.Unlock()
	var others []sibling // those whose directory is named otherwise
	for _, l := range locs {
		if l.location == location || !takes(l.match, name) {
			continue
		}
		if filepath.Clean(l.dir) == filepath.Clean(dir) {
			return l.location, true
		}
		others = append(others, l)
	}
	if len(others) == 0 {
		return "", false
	}
	info, err := os.Stat(dir)
	if err != nil {
		return "", false
	}
	for _, l := range others {
		if li, err := os.Stat(l.dir); err == nil && os.SameFile(info, li) {
			return l.location, true
		}
	}
	return "", false
}

// firstReport reports whether the claim is yet to be reported as
// recovered by none, and notes that it is now.
func (s *Siblings) firstReport(claim string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reported[claim] {
		return false
	}
	if s.reported == nil {
		s.reported = map[string]bool{}
	}
	s.reported[claim] = true
	return true
}
