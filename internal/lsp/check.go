package lsp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/redact"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// snapshot is the outcome of validating one configuration directory: what
// the diagnostics, hovers and definitions are computed from.
type snapshot struct {
	dir   string
	files []string          // the configuration files, absolute
	src   map[string][]byte // their text as validated (buffers over disk)
	cfg   *model.Config     // never nil
	res   *rules.Result     // nil when syntax errors kept the rules from running
	diags hcl.Diagnostics   // redacted
}

// checker validates configuration directories the way `bizpipe validate`
// does with no flags: static rules only, variables from the environment.
type checker struct {
	lookupEnv func(string) (string, bool)
	registry  *component.Registry
	now       func() time.Time
	// caches are kept per configuration directory between its runs.
	caches map[string]*dirCache
}

// dirCache is what one run leaves for the next run of the same directory.
type dirCache struct {
	// stores keeps the loaded certificate stores while their directories
	// are unchanged (stamp): loading them is most of a cold run.
	stores *certstore.Cache
	stamp  string
	// parsed keeps the parsed files: a keystroke re-parses one buffer.
	parsed *lang.ParseCache
}

// check validates dir with overlay (path → text) laid over the disk.
func (c *checker) check(dir string, overlay map[string][]byte) *snapshot {
	files := configFiles(dir, overlay)
	snap := &snapshot{dir: dir, files: files, src: map[string][]byte{}}
	read := func(name string) ([]byte, error) {
		if b, ok := overlay[name]; ok {
			snap.src[name] = b
			return b, nil
		}
		b, err := readFile(name)
		if err == nil {
			snap.src[name] = b
		}
		return b, err
	}
	if len(files) == 0 {
		snap.cfg = &model.Config{}
		return snap
	}
	if c.caches == nil {
		c.caches = map[string]*dirCache{}
	}
	dc := c.caches[dir]
	if dc == nil {
		dc = &dirCache{parsed: lang.NewParseCache()}
		c.caches[dir] = dc
	}
	cfg, diags := lang.Load(files, lang.Options{
		Mode: lang.ModeValidate, LookupEnv: c.lookupEnv, Registry: c.registry, ReadFile: read, ParseCache: dc.parsed,
	})
	if cfg == nil {
		cfg = &model.Config{}
	}
	snap.cfg = cfg
	if diag.HasSyntaxErrors(diags) {
		// As validate does: the blocks of a file that could not be parsed
		// are missing, and the rules would report phantom problems.
		snap.diags = diag.SyntaxErrors(diags)
	} else {
		dc.refresh(cfg)
		res, ds := rules.Check(cfg, rules.Options{Now: c.now(), Cache: dc.stores})
		snap.res = res
		snap.diags = append(diags, ds...)
	}
	// The last line of defence the CLI has too: an editor's problem
	// list is output.
	snap.diags = redact.New(redact.Long(cfg.Secrets)...).Diagnostics(snap.diags)
	return snap
}

// refresh starts a new store cache when any store directory changed since
// the last run: a file added, removed, replaced or touched.
func (c *dirCache) refresh(cfg *model.Config) {
	var b strings.Builder
	for _, s := range cfg.Stores {
		if !s.Path.Known {
			continue
		}
		fmt.Fprintf(&b, "%s\x00%t\x00", s.Path.V, s.Password.Known)
		entries, err := os.ReadDir(s.Path.V)
		if err != nil {
			fmt.Fprintf(&b, "error %v\n", err)
			continue
		}
		for _, e := range entries {
			info, err := os.Stat(filepath.Join(s.Path.V, e.Name()))
			if err != nil {
				fmt.Fprintf(&b, "%s error\n", e.Name())
				continue
			}
			fmt.Fprintf(&b, "%s %d %d %v\n", e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode())
		}
	}
	if stamp := b.String(); c.stores == nil || stamp != c.stamp {
		c.stores, c.stamp = certstore.NewCache(), stamp
	}
}

// configFiles lists the files the loader reads from dir (§2), plus the
// buffers open in dir that are not on disk yet.
func configFiles(dir string, overlay map[string][]byte) []string {
	seen := map[string]bool{}
	var files []string
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if isConfigFile(e.Name()) && isRegular(p) {
				seen[p] = true
				files = append(files, p)
			}
		}
	}
	for p := range overlay {
		if filepath.Dir(p) == dir && isConfigFile(p) && !seen[p] {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	return files
}

// isRegular follows links, as the loader does: a FIFO named x.hcl would hang.
func isRegular(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// maxFileSize is one byte more than the loader accepts, which then reports
// the file as too large.
const maxFileSize = 4<<20 + 1

// readFile reads a configuration file from disk, bounded.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize))
}
