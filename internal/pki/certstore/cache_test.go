package certstore

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

func TestCache(t *testing.T) {
	fx := newFixtures(t)
	dir := t.TempDir()
	testpki.WriteFile(t, dir, "a.pem", fx.ecLeaf.CertPEM())

	c := NewCache()
	first, err := c.Load(dir, NoPassword())
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Certificates) != 1 {
		t.Fatalf("got %d certificates, want 1", len(first.Certificates))
	}

	// A file added after the first load is not seen through the cache: the
	// directory is read once. Load without a cache does see it.
	testpki.WriteFile(t, dir, "b.pem", fx.ca.CertPEM())
	if n := len(mustLoad(t, dir, NoPassword()).Certificates); n != 2 {
		t.Fatalf("uncached Load found %d certificates, want 2", n)
	}

	t.Chdir(filepath.Dir(dir))
	sameDir := []struct {
		name string
		dir  string
	}{
		{"same path", dir},
		{"relative path", filepath.Base(dir)},
		{"unclean path", dir + "/./"},
		{"dot-dot path", filepath.Join(dir, "sub", "..")},
	}
	for _, tt := range sameDir {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Load(tt.dir, NoPassword())
			if err != nil {
				t.Fatal(err)
			}
			if s != first {
				t.Errorf("Load(%q) returned a different *Store", tt.dir)
			}
			if len(s.Certificates) != 1 {
				t.Errorf("store was re-read: %d certificates", len(s.Certificates))
			}
		})
	}

	t.Run("another password is another load", func(t *testing.T) {
		s, err := c.Load(dir, KnownPassword("x"))
		if err != nil {
			t.Fatal(err)
		}
		if s == first || len(s.Certificates) != 2 {
			t.Errorf("got the first store (%v) or %d certificates, want a fresh load with 2", s == first, len(s.Certificates))
		}
		again, _ := c.Load(dir, KnownPassword("x"))
		if again != s {
			t.Error("second load with the same password returned a different *Store")
		}
		if u, _ := c.Load(dir, UnknownPassword()); u == s || u == first {
			t.Error("unknown password shares a store with another password state")
		}
	})

	t.Run("concurrent loads of one store share one load", func(t *testing.T) {
		other := t.TempDir()
		testpki.WriteFile(t, other, "a.pem", fx.rsaLeaf.CertPEM())
		got := make([]*Store, 64)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i], _ = c.Load(other, NoPassword()) })
		}
		wg.Wait()
		for _, s := range got {
			if s == nil || s != got[0] {
				t.Fatal("concurrent loads returned different stores")
			}
		}
	})

	t.Run("errors are cached", func(t *testing.T) {
		missing := filepath.Join(dir, "missing")
		_, err1 := c.Load(missing, NoPassword())
		_, err2 := c.Load(missing, NoPassword())
		if err1 == nil || err1 != err2 {
			t.Errorf("errors %v and %v, want the same non-nil error", err1, err2)
		}
	})

	t.Run("forget reloads one directory only", func(t *testing.T) {
		other := t.TempDir()
		testpki.WriteFile(t, other, "a.pem", fx.rsaLeaf.CertPEM())
		kept, _ := c.Load(other, NoPassword())
		before, _ := c.Load(dir, NoPassword())
		withPassword, _ := c.Load(dir, KnownPassword("x"))
		if err := c.Forget(dir + "/./"); err != nil {
			t.Fatal(err)
		}
		if s, _ := c.Load(dir, NoPassword()); s == before || s == nil || len(s.Certificates) != 2 {
			t.Errorf("after Forget, Load returned the forgotten store (%v) or not both certificates", s == before)
		}
		if s, _ := c.Load(dir, KnownPassword("x")); s == withPassword {
			t.Error("Forget kept the store loaded with another password")
		}
		if s, _ := c.Load(other, NoPassword()); s != kept {
			t.Error("Forget of one directory dropped another")
		}
	})

	t.Run("zero value is usable", func(t *testing.T) {
		var zero Cache
		s1, err := zero.Load(dir, NoPassword())
		if err != nil {
			t.Fatal(err)
		}
		if s2, _ := zero.Load(dir, NoPassword()); s2 != s1 {
			t.Error("zero Cache did not cache")
		}
		if s1 == first {
			t.Error("two caches share a store")
		}
	})
}
