package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sync"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
)

// loadedStore is a store as the rules see it.
type loadedStore struct {
	store *certstore.Store // nil: could not be loaded, or path unknown
	// complete is false when some PKCS#12 files were not opened (password
	// unknown, BP2005) or could not be read: a missing certificate may be in
	// them, so "not found" rules are skipped for this store.
	complete bool
}

// loadStores reads every declared store (with Options.Host, every store
// the covered instances use) once (concurrently: PKCS#12 key
// derivation dominates) and reports BP2001–BP2003 and BP2005.
func (c *checker) loadStores() {
	type job struct {
		decl  *model.CertificateStore
		store *certstore.Store
		err   error
	}
	var jobs []*job
	need := c.neededStores()
	for _, s := range c.cfg.Stores {
		// A store another host's account uses may be private to that
		// account: not even opened (Options.Host).
		if !s.Path.Usable() || (need != nil && !need[s]) {
			c.stores[s] = &loadedStore{}
			continue
		}
		jobs = append(jobs, &job{decl: s})
	}
	work := make(chan *job)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(jobs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.store, j.err = c.cache.Load(j.decl.Path.V, StorePassword(j.decl))
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()

	for _, j := range jobs {
		s := j.decl
		if j.err != nil {
			c.add(diag.Errorf(diag.CodeStorePath, s.Path.Range, "Certificate store cannot be read",
				"The path of %s cannot be used: %s.", storeDesc(s), storeError(j.err)))
			c.stores[s] = &loadedStore{}
			continue
		}
		ls := &loadedStore{store: j.store, complete: true}
		for _, p := range j.store.Problems {
			switch p.Kind {
			case certstore.ProblemPassword:
				ls.complete = false
				rng := s.Path.Range
				if s.Password.Set {
					rng = s.Password.Range
				}
				if s.Password.Usable() && s.Password.V == "" {
					// An empty BIZPIPE_VAR_NAME= or --var NAME= is a
					// value, so it reads as a wrong password: say so.
					c.add(diag.Errorf(diag.CodeStorePassword, rng, "PKCS#12 file cannot be decrypted: the password is empty",
						"%s in %s cannot be opened: the store's password is empty, and the file needs one. An empty value usually comes from an environment variable that is set but empty (BIZPIPE_VAR_NAME=), or --var NAME= with nothing after \"=\"; give the real password there.",
						fileIn(s, p.File), storeDesc(s)))
					continue
				}
				c.add(diag.Errorf(diag.CodeStorePassword, rng, "PKCS#12 file cannot be decrypted",
					"%s in %s cannot be opened: %s.", fileIn(s, p.File), storeDesc(s), p.Err))
			case certstore.ProblemRead:
				ls.complete = false
				c.add(diag.Errorf(diag.CodeStorePath, s.Path.Range, "Store file cannot be read",
					"%s in %s cannot be read: %s.", fileIn(s, p.File), storeDesc(s), p.Err))
			default:
				ls.complete = false
				c.add(diag.Errorf(diag.CodeStoreFile, s.Path.Range, "Store file cannot be parsed",
					"%s in %s cannot be parsed: %s.", fileIn(s, p.File), storeDesc(s), p.Err))
			}
		}
		if n := len(j.store.UnopenedPKCS12); n > 0 {
			ls.complete = false
			if s.PasswordInvalid {
				c.stores[s] = ls
				continue // the error in the password attribute says it all
			}
			c.add(diag.Warningf(diag.CodePasswordUnknown, s.Password.Range, "Store password unknown: PKCS#12 files not checked",
				"The password of %s has no value during validate (give one with --var, --var-file or BIZPIPE_VAR_*), so its %s (%s) %s not opened, and the certificate rules that need them are skipped for this store.",
				storeDesc(s), plural(n, "PKCS#12 file"), listFiles(s, j.store.UnopenedPKCS12), map[bool]string{true: "was", false: "were"}[n == 1]))
		}
		c.stores[s] = ls
	}
}

// StorePassword turns a store's password attribute into the loader's
// tri-state: absent, unknown during validate, or known.
func StorePassword(s *model.CertificateStore) certstore.Password {
	switch {
	case !s.Password.Set:
		return certstore.NoPassword()
	case !s.Password.Known:
		return certstore.UnknownPassword()
	default:
		return certstore.KnownPassword(s.Password.V)
	}
}

func listFiles(decl *model.CertificateStore, files []string) string {
	const most = 3
	out := ""
	for i, f := range files {
		if i == most {
			out += ", ..."
			break
		}
		if i > 0 {
			out += ", "
		}
		out += fileIn(decl, f)
	}
	return out
}

// storeError describes why a store directory cannot be read, without the
// directory: the loader's error names it made absolute, and the detail
// already names the store by its configured path (storeDesc), relative to
// the working directory like every other path in diagnostics, or not at
// all when it comes from a sensitive value.
func storeError(err error) string {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return pe.Err.Error()
	case errors.Is(err, certstore.ErrNotDirectory):
		return certstore.ErrNotDirectory.Error()
	}
	return "the directory cannot be read"
}

// plural renders "1 PKCS#12 file" or "3 PKCS#12 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
