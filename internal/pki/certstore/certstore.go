// Package certstore loads certificate stores (spec §5): directories of
// certificates, private keys and PKCS#12 files, the stand-in for a Windows
// service account's personal store or a server's other-people store.
//
// Files are recognised by content first and extension second:
//
//   - PEM (.pem .crt .cer .key, or any file containing "-----BEGIN"): any
//     number of CERTIFICATE blocks and PKCS#8, PKCS#1 and SEC 1 private keys;
//   - DER (.der .cer .crt, or content that parses as one): a certificate, or
//     an unencrypted PKCS#8, PKCS#1 or SEC 1 private key;
//   - PKCS#12 (.p12 .pfx, or content with a PFX structure), decrypted with
//     the store's password, modern (PBES2/AES) and legacy (RC2/3DES) alike:
//     every certificate and key in it, however many (keytool keystores and
//     truststores, key-only exports), with or without a MAC.
//
// Only regular files (and symbolic links to them) are read. Anything else in
// the directory (named pipes, sockets, devices, subdirectories) is never
// opened and only noted, so that a store path such as /dev or /proc cannot
// make Load wait or read without end: see readFile for how each file is
// opened and bounded.
//
// A private key belongs to the certificate whose public key it matches,
// whichever files they came from. Load never puts key material or the
// password into errors, notes or formatted output.
//
// Mapping to diagnostics (spec §7.2): an error from Load is BP2001; a Problem
// of kind ProblemRead is BP2001 (a store file the validating user cannot
// read), ProblemParse is BP2002 and ProblemPassword is BP2003; a non-empty
// Store.UnopenedPKCS12 is BP2005.
package certstore

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
)

// ErrNotDirectory is wrapped by Load's error when the store path is not a
// directory.
var ErrNotDirectory = errors.New("not a directory")

// FileKind is what a store file was recognised as.
type FileKind int

const (
	// FileIgnored is a file that is none of the kinds below (or a hidden
	// file); it is mentioned in Store.Notes.
	FileIgnored FileKind = iota
	// FilePEM is a PEM file.
	FilePEM
	// FileDER is a DER certificate or private key.
	FileDER
	// FilePKCS12 is a PKCS#12 (.p12, .pfx) file.
	FilePKCS12
)

// String returns "ignored", "PEM", "DER" or "PKCS#12".
func (k FileKind) String() string {
	switch k {
	case FileIgnored:
		return "ignored"
	case FilePEM:
		return "PEM"
	case FileDER:
		return "DER"
	case FilePKCS12:
		return "PKCS#12"
	}
	return fmt.Sprintf("FileKind(%d)", int(k))
}

// File is a regular file (or a symbolic link to one) directly in the store
// directory.
type File struct {
	// Path is the store directory joined with the file name.
	Path string
	// Kind is what the file was recognised as. A file with a Problem has the
	// kind it looked like (by content or extension).
	Kind FileKind
	// HasUnencryptedKey reports that the file holds private key material
	// that no password protects: an unencrypted PEM or DER key (even one
	// that failed to parse), or a PKCS#12 file that opens with the empty
	// password or keeps its key in a bag it does not encrypt. The live
	// permission check (BP6003) needs it.
	HasUnencryptedKey bool
	// Hidden reports a hidden file (its name starts with "."): listed, but
	// never opened, so that whether it can be read does not matter
	// either (the live check BP6002 passes it over).
	Hidden bool
}

// ProblemKind classifies a per-file Problem.
type ProblemKind int

const (
	// ProblemRead means the file could not be read (permissions, broken link).
	// Diagnostic BP2001.
	ProblemRead ProblemKind = iota + 1
	// ProblemParse means the file looks like a certificate, key or PKCS#12 file
	// but cannot be parsed, or uses an unsupported form (encrypted PEM key,
	// BER-encoded PKCS#12). Diagnostic BP2002.
	ProblemParse
	// ProblemPassword means a PKCS#12 file cannot be decrypted with the store's
	// password (wrong, or none configured). Diagnostic BP2003.
	ProblemPassword
)

// String returns "read", "parse" or "password".
func (k ProblemKind) String() string {
	switch k {
	case ProblemRead:
		return "read"
	case ProblemParse:
		return "parse"
	case ProblemPassword:
		return "password"
	}
	return fmt.Sprintf("ProblemKind(%d)", int(k))
}

// Problem is an error in one store file. Its message names the file and never
// contains key material or the password.
type Problem struct {
	Kind ProblemKind
	// File is the path of the file.
	File string
	Err  error
}

// Error returns "<file>: <what is wrong>".
func (p *Problem) Error() string { return p.File + ": " + p.Err.Error() }

// Unwrap returns Err.
func (p *Problem) Unwrap() error { return p.Err }

// Certificate is a certificate in a store.
type Certificate struct {
	Cert *x509.Certificate
	// SHA1 and SHA256 are the thumbprints in lowercase hex.
	SHA1, SHA256 string
	// File is the path of the first file (in directory order) that holds
	// the certificate; a certificate found in several files is listed once.
	File string
	// Key is the matching private key, nil when the store has none.
	Key *PrivateKey
}

// Store is a loaded certificate store. A Store returned by a Cache is shared:
// treat it as read-only.
type Store struct {
	// Dir is the directory as passed to Load.
	Dir string
	// Certificates in directory order, then in order within each file.
	Certificates []*Certificate
	// Files lists every regular file in the directory, ignored ones included.
	Files []File
	// Problems lists the files that could not be read, parsed or decrypted.
	// Certificates and keys from the readable parts of a file are still
	// loaded, so that one bad block does not hide the rest.
	Problems []*Problem
	// UnopenedPKCS12 lists the PKCS#12 files not opened because the password
	// is unknown (BP2005): their certificates are missing from the store.
	UnopenedPKCS12 []string
	// UnmatchedKeys are the private keys that match no certificate of the
	// store, in directory order: a key exported with another certificate
	// than its own, or without its certificate. Notes mention each too.
	UnmatchedKeys []*PrivateKey
	// Notes are informational, for --verbose: ignored files, blocks and
	// subdirectories, and private keys that match no certificate.
	Notes []string

	bySHA1, bySHA256 map[string]*Certificate
}

// Find returns the certificate with thumbprint tp, or nil.
func (s *Store) Find(tp thumbprint.Thumbprint) *Certificate {
	index := s.bySHA1
	if tp.Kind == thumbprint.SHA256 {
		index = s.bySHA256
	}
	if index != nil {
		return index[tp.Hex]
	}
	// A Store built by hand has no index.
	for _, c := range s.Certificates {
		if tp.MatchesCertificate(c.Cert) {
			return c
		}
	}
	return nil
}

// Load reads the store directory dir (not recursively), decrypting PKCS#12
// files with pw. It returns an error, wrapping the os error (or
// ErrNotDirectory) and naming dir, only when the directory itself cannot be
// read; problems with single files are in Store.Problems.
func Load(dir string, pw Password) (*Store, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate store %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("certificate store %s: %w", dir, ErrNotDirectory)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate store %s: %w", dir, err)
	}

	results := make([]*fileResult, len(entries))
	var toParse []*fileResult
	for i, e := range entries {
		r := &fileResult{file: File{Path: filepath.Join(dir, e.Name())}}
		results[i] = r
		if examineEntry(r, e) {
			toParse = append(toParse, r)
		}
	}
	forEach(toParse, func(r *fileResult) { readAndParse(r, pw) })

	s := &Store{Dir: dir}
	s.merge(results)
	return s, nil
}

// examineEntry records what a directory entry is without reading it and
// reports whether it is a regular file to read and parse.
func examineEntry(r *fileResult, e os.DirEntry) bool {
	name := e.Name()
	mode := e.Type()
	if mode&os.ModeSymlink != 0 {
		// Followed, because mounted secrets (e.g. Kubernetes) are symlinks.
		fi, err := os.Stat(r.file.Path)
		if err != nil {
			if extKind(name) == FileIgnored && !strings.HasPrefix(name, ".") {
				r.note("ignored: broken symbolic link")
				return false
			}
			r.isFile = true
			r.file.Kind = extKind(name)
			r.problem(ProblemRead, fmt.Errorf("cannot follow symbolic link: %w", pathless(err)))
			return false
		}
		mode = fi.Mode().Type()
	}
	switch {
	case mode.IsDir():
		if !strings.HasPrefix(name, ".") {
			r.note("ignored: subdirectory (stores are not recursive)")
		}
		return false
	case !mode.IsRegular():
		// Never opened: opening a FIFO waits for a writer, reading a
		// device may never end, and opening some devices has side
		// effects. readFile checks again after opening, for a file
		// replaced in between.
		r.note("ignored: %v", &notRegularError{mode: mode, link: e.Type()&os.ModeSymlink != 0})
		return false
	}
	r.isFile = true
	if strings.HasPrefix(name, ".") {
		r.file.Hidden = true
		r.note("ignored: hidden file")
		return false
	}
	return true
}

func readAndParse(r *fileResult, pw Password) {
	data, err := readFile(r.file.Path)
	var notRegular *notRegularError
	var kernel *kernelFileError
	switch {
	case errors.As(err, &notRegular):
		// Replaced by something else since the directory was listed.
		r.isFile = false
		r.note("ignored: %v", err)
	case errors.As(err, &kernel):
		// Like a device: not a file that anyone put into the store.
		r.note("ignored: %v", err)
	case errors.Is(err, errTooLarge):
		// A large unrelated file (a log, an archive) may sit in the store;
		// only a file that claims to be ours is a problem.
		if k := extKind(r.file.Path); k != FileIgnored {
			r.file.Kind = k
			r.problem(ProblemParse, err)
		} else {
			r.note("ignored: %v", err)
		}
	case err != nil:
		r.file.Kind = extKind(r.file.Path)
		r.problem(ProblemRead, fmt.Errorf("cannot read: %w", pathless(err)))
	default:
		parseFile(r, data, pw)
	}
}

// pathless is err without the path an *fs.PathError writes out: a Problem
// names its file already, and the path as the loader has it (absolute,
// symbolic links resolved) would show what the redaction of a store path
// from a sensitive value cannot recognise.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var errTooLarge = fmt.Errorf("larger than %d MiB, too large for a certificate, key or PKCS#12 file", maxFileSize>>20)

// errWouldBlock is the read error (wrapped in an *fs.PathError) of a regular
// file that has no data yet and would make the reader wait for some, as
// /proc/kmsg does: a kernel interface, not a file anyone put into a store.
var errWouldBlock = errors.New("no data without waiting for it (a kernel or device interface, not a certificate file)")

// notRegularError is what readFile (and, for a note, examineEntry) reports
// for a directory entry that is not a regular file.
type notRegularError struct {
	mode os.FileMode // the type bits of the entry or of the link's target
	link bool        // the entry is a symbolic link to it
}

func (e *notRegularError) Error() string {
	what := "a " + fsop.TypeName(e.mode)
	if e.link {
		what = "a symbolic link to " + what
	}
	return "not a regular file but " + what
}

// kernelFileError is what readFile reports for a file of a kernel
// pseudo-filesystem (see kernelFS), which it does not read.
type kernelFileError struct{ fs string }

func (e *kernelFileError) Error() string {
	return "a file of the kernel's " + e.fs + " filesystem, generated when read, not a certificate file"
}

// readFile reads a regular store file of at most maxFileSize bytes. Whatever
// path names by the time it is opened, readFile neither waits nor reads
// without bound:
//
//   - it opens without waiting (fsop.OpenNoWait: O_NONBLOCK on Unix, so that
//     a FIFO put in place of the file since examineEntry does not wait for a
//     writer), then refuses anything but a regular file (*notRegularError)
//     before reading a byte, checking the opened descriptor itself;
//   - a file whose size is above maxFileSize is errTooLarge without reading;
//   - a zero-size file on a kernel pseudo-filesystem (/proc, /sys...) is a
//     *kernelFileError without reading: such files report size 0 whatever
//     they hold, and reading some has effects (/proc/kmsg consumes the
//     kernel log messages it returns);
//   - the reading itself stops after maxFileSize+1 bytes (errTooLarge), for
//     files whose size says nothing or that grow, and it never waits for
//     data that is not there (errWouldBlock; storeFileReader).
func readFile(path string) ([]byte, error) {
	f, err := fsop.OpenNoWait(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, &notRegularError{mode: fi.Mode().Type()}
	case fi.Size() > maxFileSize:
		return nil, errTooLarge
	case fi.Size() == 0:
		if fs := kernelFS(f); fs != "" {
			return nil, &kernelFileError{fs: fs}
		}
	}
	return readBounded(storeFileReader(f))
}

// readBounded reads r to its end, or returns errTooLarge once it has read
// more than maxFileSize bytes.
func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, errTooLarge
	}
	return data, nil
}

// forEach runs fn on every item, in parallel when there are several: opening a
// PKCS#12 file costs milliseconds of key derivation, which would otherwise add
// up across a directory.
func forEach(items []*fileResult, fn func(*fileResult)) {
	workers := min(runtime.GOMAXPROCS(0), len(items))
	if workers <= 1 {
		for _, it := range items {
			fn(it)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				fn(items[i])
			}
		})
	}
	wg.Wait()
}

// merge assembles the Store from the per-entry results in directory order.
func (s *Store) merge(results []*fileResult) {
	s.bySHA1 = make(map[string]*Certificate)
	s.bySHA256 = make(map[string]*Certificate)
	var keys []*PrivateKey
	for _, r := range results {
		if r.isFile {
			s.Files = append(s.Files, r.file)
		}
		s.Problems = append(s.Problems, r.problems...)
		s.Notes = append(s.Notes, r.notes...)
		if r.unopened {
			s.UnopenedPKCS12 = append(s.UnopenedPKCS12, r.file.Path)
		}
		for _, c := range r.certs {
			sha256 := thumbprint.SHA256Hex(c.Raw)
			if s.bySHA256[sha256] != nil {
				continue
			}
			sc := &Certificate{Cert: c, SHA1: thumbprint.SHA1Hex(c.Raw), SHA256: sha256, File: r.file.Path}
			s.Certificates = append(s.Certificates, sc)
			s.bySHA256[sha256] = sc
			if s.bySHA1[sc.SHA1] == nil {
				s.bySHA1[sc.SHA1] = sc
			}
		}
		keys = append(keys, r.keys...)
	}
	s.matchKeys(keys)
}

// matchKeys gives each certificate the key whose public key equals the
// certificate's, comparing canonical PKIX encodings through a map so that
// large stores do not cost certificates × keys comparisons.
func (s *Store) matchKeys(keys []*PrivateKey) {
	if len(keys) == 0 {
		return
	}
	pubs := make([]string, len(keys))
	byPub := make(map[string]*PrivateKey, len(keys))
	for i, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			continue
		}
		pubs[i] = string(der)
		if byPub[pubs[i]] == nil { // the same key in two files: first wins
			byPub[pubs[i]] = k
		}
	}
	used := make(map[string]bool, len(keys))
	for _, c := range s.Certificates {
		der, err := x509.MarshalPKIXPublicKey(c.Cert.PublicKey)
		if err != nil {
			continue // a public key type Go cannot handle has no usable key
		}
		if k := byPub[string(der)]; k != nil {
			c.Key = k
			used[string(der)] = true
		}
	}
	for i, k := range keys {
		if pubs[i] == "" || !used[pubs[i]] {
			s.UnmatchedKeys = append(s.UnmatchedKeys, k)
			s.Notes = append(s.Notes, fmt.Sprintf("%s: private key (%s) matches no certificate in the store", k.File, k.Algorithm()))
		}
	}
}
