package lsp

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/redact"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// snapshot is the outcome of validating one configuration directory: what
// the diagnostics, hovers and definitions are computed from.
type snapshot struct {
	dir   string
	files []string        // the configuration files, absolute
	cfg   *model.Config   // never nil; Sources has the text validated
	res   *rules.Result   // nil when syntax errors kept the rules from running
	diags hcl.Diagnostics // redacted
	// decoded is the directory's configuration as it last decoded: cfg
	// when res is set; while a syntax error keeps a file's blocks from
	// being decoded (the line being typed), the one before, whose names
	// completion offers.
	decoded *model.Config
	// versions are those of the open documents validated, by path.
	versions map[string]int
	// documents are the files that findings about a file as a whole
	// (diag.AboutFile) name, and that an editor can open: those findings
	// are shown in them.
	documents map[string]bool
	// texts are those of the files with findings that are no
	// configuration files (a --var-file), read again for the findings'
	// positions only: HCL's columns count characters, LSP's UTF-16 units.
	texts map[string][]byte
}

// checker validates configuration directories the way `bizpipe validate`
// does: static rules only, variables from its --var and --var-file and
// from the environment.
type checker struct {
	lookupEnv      func(string) (string, bool)
	vars, varFiles []string
	registry       *component.Registry
	now            func() time.Time
	// caches are kept per configuration directory between its runs.
	caches map[string]*dirCache
}

// dirCache is what one run leaves for the next run of the same directory.
type dirCache struct {
	// stores keeps the loaded certificate stores while their directories
	// are unchanged (stamps, by directory): loading them is most of a cold
	// run.
	stores *certstore.Cache
	stamps map[string]string
	// parsed keeps the parsed files: a keystroke re-parses one buffer.
	parsed *lang.ParseCache
}

// check validates dir with overlay (path → text) laid over the disk, the
// files found and read as the loader finds and reads them.
func (c *checker) check(dir string, overlay map[string][]byte) *snapshot {
	snap := &snapshot{dir: dir}
	files, err := lang.FindFilesOverlay([]string{dir}, overlay)
	if err == nil {
		// A --var-file in this directory would be read as configuration,
		// its values shown in the snippets validate refuses to print
		// (exit 2): the same refusal here.
		err = lang.CheckVarFiles(nil, files, c.varFiles)
	}
	if err != nil {
		// Validate would stop here (exit 2): the reason is shown at the
		// top of each open file of the directory.
		snap.cfg = &model.Config{}
		snap.diags = hcl.Diagnostics{diag.New(hcl.DiagError, diag.CodeSyntax, hcl.Range{},
			"Cannot read the configuration", err.Error()+".")}
		return snap
	}
	snap.files = files
	if c.caches == nil {
		c.caches = map[string]*dirCache{}
	}
	dc := c.caches[dir]
	if dc == nil {
		dc = &dirCache{parsed: lang.NewParseCache(), stores: certstore.NewCache()}
		c.caches[dir] = dc
	}
	cfg, diags := lang.Load(files, lang.Options{
		Mode: lang.ModeValidate, Vars: c.vars, VarFiles: c.varFiles, LookupEnv: c.lookupEnv, Registry: c.registry,
		Overlay: overlay, ParseCache: dc.parsed,
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
		snap.decoded = cfg
		snap.diags = append(diags, ds...)
	}
	// The last line of defence the CLI has too, with the same forms of
	// the secrets (escaped, as a message quotes a value): an editor's
	// problem list is output.
	snap.diags = redact.New(redact.Long(redact.SourceForms(cfg.Secrets))...).Diagnostics(snap.diags)
	for _, d := range snap.diags {
		if f := diag.FileOf(d); d.Subject == nil && f != "" {
			snap.aboutFile(f)
			continue
		}
		if d.Subject == nil || d.Subject.Filename == "" {
			continue
		}
		f := d.Subject.Filename
		if _, ok := cfg.Sources[f]; ok {
			continue
		}
		if _, ok := snap.texts[f]; ok {
			continue
		}
		if snap.texts == nil {
			snap.texts = map[string][]byte{}
		}
		// Never waiting on what is no regular file: a var-file may
		// have been replaced since the server's start checked it.
		b, err := fsop.ReadRegular(f, maxTextSize)
		if err != nil {
			b = nil // the columns, then
		}
		snap.texts[f] = b
	}
	return snap
}

// aboutFile notes f, named by a finding about it as a whole, among the
// documents when an editor can open it: a configuration file the loader
// read (one in UTF-16), or another regular file (a --var-file, one too
// large). A dangling symbolic link, a FIFO or a directory named x.hcl is
// none: a finding published for it would be shown in no document, and
// opening it from a list of problems fails or, for a FIFO, may block.
// Stat opens nothing, so it never waits on a FIFO.
func (snap *snapshot) aboutFile(f string) {
	if _, done := snap.documents[f]; done {
		return
	}
	if snap.documents == nil {
		snap.documents = map[string]bool{}
	}
	_, read := snap.cfg.Sources[f]
	if !read {
		info, err := os.Stat(f)
		read = err == nil && info.Mode().IsRegular()
	}
	snap.documents[f] = read
}

// maxTextSize bounds a file read for positions: the largest a
// configuration file may be.
const maxTextSize = 4 << 20

// refresh makes the store cache forget each store directory that changed
// since the last run (a file added, removed, replaced or touched), or
// whose stores' passwords changed (the cache keeps a store per password:
// one typed a keystroke at a time would leave one for each), and those no
// store names any more; the other stores stay loaded.
func (c *dirCache) refresh(cfg *model.Config) {
	stamps := map[string]string{}
	passwords := map[string][]string{}
	for _, s := range cfg.Stores {
		if !s.Path.Known {
			continue
		}
		if _, done := stamps[s.Path.V]; !done {
			stamps[s.Path.V] = storeStamp(s.Path.V)
		}
		passwords[s.Path.V] = append(passwords[s.Path.V], passwordStamp(s.Password))
	}
	for dir, pws := range passwords {
		slices.Sort(pws)
		stamps[dir] += strings.Join(slices.Compact(pws), "\n")
	}
	for dir, old := range c.stamps {
		if now, ok := stamps[dir]; ok && now == old {
			continue
		}
		if err := c.stores.Forget(dir); err != nil {
			// The directory cannot be named (no working directory for
			// a relative path): forget every store instead.
			c.stores = certstore.NewCache()
		}
	}
	c.stamps = stamps
}

// passwordStamp identifies a store's password by a digest, which the
// stamps keep rather than the password.
func passwordStamp(pw model.Value[string]) string {
	sum := sha256.Sum256([]byte(pw.V))
	return fmt.Sprintf("password set=%t known=%t %x", pw.Set, pw.Known, sum)
}

// storeStamp describes a store directory's files: it changes when one is
// added, removed, replaced or touched.
func storeStamp(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Sprintf("error %v\n", err)
	}
	var b strings.Builder
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			fmt.Fprintf(&b, "%s error\n", e.Name())
			continue
		}
		fmt.Fprintf(&b, "%s %d %d %v\n", e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode())
	}
	return b.String()
}

// forget frees what the checks of dir keep for the next: the server calls
// it when no document of dir is open any more.
func (c *checker) forget(dir string) {
	delete(c.caches, dir)
}
