package certstore

import (
	"fmt"
	"path/filepath"
	"sync"
)

// Cache loads each (directory, password) pair once, however many host
// instances reference the store, and is safe for concurrent use: concurrent
// requests for the same store wait for one Load, while different stores load
// in parallel. Errors are cached too, so a missing directory is looked at
// once. A Cache never re-reads a directory by itself: use a new Cache per
// validation or run, or Forget a directory that changed. The zero value is
// ready to use.
type Cache struct {
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
}

type cacheKey struct {
	dir string
	pw  Password
}

type cacheEntry struct {
	once  sync.Once
	store *Store
	err   error
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{} }

// Load returns the store at dir as Load would, loading it on the first call
// for the absolute, cleaned dir and pw and returning the same *Store (or
// error) afterwards. The Store's Dir is the absolute path.
func (c *Cache) Load(dir string, pw Password) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate store %s: %w", dir, err)
	}
	key := cacheKey{dir: abs, pw: pw}

	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[cacheKey]*cacheEntry)
	}
	e := c.entries[key]
	if e == nil {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()

	// Loading outside the mutex lets other stores load meanwhile.
	e.once.Do(func() { e.store, e.err = Load(abs, pw) })
	return e.store, e.err
}

// Forget drops what c holds for dir, under every password, so that the next
// Load of dir reads it again while the other stores stay loaded: the
// language server forgets a store whose files changed. A Load of dir in
// progress still returns what it read.
func (c *Cache) Forget(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("certificate store %s: %w", dir, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.dir == abs {
			delete(c.entries, k)
		}
	}
	return nil
}
