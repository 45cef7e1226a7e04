// Package live holds the checks that only make sense on the server itself
// (spec §7.3): does the service account's user exist here, can it read its
// stores, are unencrypted private keys locked down. They never run in plain
// validate: a CI checkout's file modes say nothing about a server.
package live

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/safetext"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// Options controls Check.
type Options struct {
	// Server is the name of the server this machine is.
	Server string
	// Host, when set, checks only that host's instances on Server (run
	// --host): the process runs as that host's service account, and the
	// other hosts' accounts are not its business. Empty checks every
	// host's.
	Host string
	// Run adds the run-only rule BP6004 (process user differs from the
	// instance's service account).
	Run bool
	// LookupUser finds an OS user by name; nil means os/user.Lookup.
	LookupUser func(name string) (*user.User, error)
	// Current is the user running bizpipe; nil means os/user.Current.
	Current func() (*user.User, error)
}

// identity is a user as file permission checks see it. The ids are kept as
// the strings os/user gives: numbers on Unix, SIDs on Windows.
type identity struct {
	name   string
	uid    string
	groups map[string]bool
	// unknown: the account's user comes from a variable without a value
	// (validate), so whose rights apply cannot be told.
	unknown bool
}

// Check runs the live rules for the instances on opts.Server (of opts.Host,
// when set). An error means the check could not run (unknown server, no
// current user).
func Check(cfg *model.Config, res *rules.Result, opts Options) (hcl.Diagnostics, error) {
	if opts.LookupUser == nil {
		opts.LookupUser = user.Lookup
	}
	if opts.Current == nil {
		opts.Current = user.Current
	}
	var srv *model.Server
	for _, s := range cfg.Servers {
		if s.Name == opts.Server {
			srv = s
		}
	}
	if srv == nil {
		return nil, fmt.Errorf("server %q is not declared in the configuration", opts.Server)
	}
	cu, err := opts.Current()
	if err != nil {
		return nil, fmt.Errorf("finding the current user: %w", err)
	}
	current, err := toIdentity(cu)
	if err != nil {
		return nil, err
	}
	c := &checker{res: res, opts: opts, current: current, seen: map[string]bool{}, unknown: map[string]*unknownUse{}}
	for _, h := range cfg.Hosts {
		for _, in := range h.Instances {
			if in.Server != srv || in.Account == nil || (opts.Host != "" && h.Name != opts.Host) {
				continue
			}
			if who, ok := c.checkInstance(in); ok {
				c.checkComponents(cfg, in, who)
			}
		}
	}
	c.checkInputs(cfg, srv)
	c.warnUnknown()
	return c.diags, nil
}

type checker struct {
	res     *rules.Result
	opts    Options
	current identity
	diags   hcl.Diagnostics
	seen    map[string]bool
	// unknown are the warnings (BP1009) unknownValue noted, by key, and
	// unknownOrder the same in the order noted.
	unknown      map[string]*unknownUse
	unknownOrder []*unknownUse
}

func (c *checker) once(key string) bool {
	if c.seen[key] {
		return false
	}
	c.seen[key] = true
	return true
}

// checkInstance checks the instance's user and stores, and returns whose
// rights apply to the instance; ok is false when that cannot be told (a
// user that does not exist here, reported).
func (c *checker) checkInstance(in *model.Instance) (who identity, ok bool) {
	acct := in.Account
	who = c.current
	if acct.User.Set && !acct.User.Known {
		who = identity{name: "(unknown user)", unknown: true}
		// What is checked without the user (does a directory exist,
		// does a TLS file load, is a key file private) still is.
		c.unknownValue("unknown-user:"+acct.Name, acct.User.Range, "Value unknown: user checks skipped",
			fmt.Sprintf("user of service account %q", acct.Name), "whose rights its instances have is not known",
			"BP6001 (whether that user exists here) and what BP6002, BP6006 and BP6007 check of its rights (reading the stores, using the transports' directories, reading the TLS files) are skipped",
			fmt.Sprintf("host %q", in.Host.Name))
	}
	if acct.User.Usable() {
		u, err := c.opts.LookupUser(acct.User.V)
		if err != nil {
			if c.once("user:" + acct.Name) {
				c.diags = append(c.diags, diag.Errorf(diag.CodeLiveUser, acct.User.Range, "Service account user does not exist",
					"Service account %q runs as OS user %q, which does not exist on this machine (server %q): %s.", acct.Name, acct.User.V, c.opts.Server, lookupReason(err)))
			}
			// Its rights cannot be judged, but what is checked without
			// them still is (a key file readable by others, BP6003), so
			// that one run shows every finding, not one after the other.
			who = identity{name: acct.User.V, unknown: true}
		} else if who, err = toIdentity(u); err != nil {
			return identity{}, false
		}
		if c.opts.Run && !who.unknown && who.uid != c.current.uid && c.once("runas:"+acct.Name) {
			c.diags = append(c.diags, diag.Warningf(diag.CodeLiveRunAs, in.DeclRange, "Running as a different user",
				"The instance of host %q on server %q runs as service account %q (OS user %q), but this process runs as %q; its stores are read with this process's rights, not the account's.",
				in.Host.Name, c.opts.Server, acct.Name, who.name, c.current.name))
		}
	}
	stores := []*model.CertificateStore{acct.PersonalStore}
	if in.Server.OtherPeopleStore != nil {
		stores = append(stores, in.Server.OtherPeopleStore)
	}
	for _, s := range stores {
		switch {
		case s == nil:
		case s.Path.Set && !s.Path.Known:
			// Plain validate does not warn of such a path (store paths
			// are commonly unset in CI, and the certificate rules then
			// skip the store); validate --live runs on the server,
			// where it should have one.
			c.unknownValue("unknown-store:"+s.Name, s.Path.Range, "Value unknown: store checks skipped",
				fmt.Sprintf("path of certificate store %q", s.Name), "its files are neither read (the certificate rules that look in it are skipped) nor examined",
				"BP6002 (whether the instance's user can read its directory and files) and BP6003 (whether its unencrypted private keys are private) are skipped",
				fmt.Sprintf("service account %q (host %q)", acct.Name, in.Host.Name))
		default:
			c.checkStore(acct, who, s)
		}
	}
	return who, true
}

// checkStore checks that who can read the store directory and its files
// (BP6002), and that unencrypted key files are private (BP6003).
func (c *checker) checkStore(acct *model.ServiceAccount, who identity, s *model.CertificateStore) {
	if !s.Path.Usable() || !c.once("store:"+who.name+":"+s.Name) {
		return
	}
	dir := s.Path.V
	rng := s.Path.Range
	// shown names a path in a diagnostic: a store path that comes from a
	// sensitive value is never printed, only file names within it. Names
	// are escaped (safetext.Field): whoever drops a file in a store
	// chooses its name.
	shown := func(p string) string {
		if s.Path.Sensitive {
			if p == dir {
				return "(sensitive path)"
			}
			return safetext.Field(filepath.Base(p))
		}
		return safetext.Field(p)
	}
	if a := blockedAncestor(who, dir); a != "" {
		c.diags = append(c.diags, diag.Errorf(diag.CodeLiveUnreadable, rng, "Store not reachable by the service account",
			"Directory %s of certificate store %q cannot be reached by user %q (service account %q): directory %s on the way needs execute (search) permission for that user (%s).",
			shown(dir), s.Name, who.name, acct.Name, shownAncestor(s, a), describeMode(a)))
		return
	}
	if !canAccess(who, dir, true) {
		c.diags = append(c.diags, diag.Errorf(diag.CodeLiveUnreadable, rng, "Store not readable by the service account",
			"Directory %s of certificate store %q cannot be listed by user %q (service account %q): it needs read and execute permission (%s).",
			shown(dir), s.Name, who.name, acct.Name, describeMode(dir)))
		return
	}
	st := c.res.Stores[s]
	if st == nil {
		return
	}
	files := make([]string, 0, len(st.Files))
	keyFiles := map[string]certstore.FileKind{}
	for _, f := range st.Files {
		if f.Hidden {
			// Never opened by the loader (an editor's swap file, say):
			// run reads the store whether or not that user may read it.
			continue
		}
		// Name files by the configured path, as every other diagnostic does.
		p := filepath.Join(dir, filepath.Base(f.Path))
		files = append(files, p)
		if f.HasUnencryptedKey {
			keyFiles[p] = f.Kind
		}
	}
	sort.Strings(files)
	for _, f := range files {
		if a := linkBlocked(who, f); a != "" {
			// The store directory can be passed through (checked
			// above), so the blocked directory is on the way to the
			// link's target, outside the store.
			shownA := a
			if s.Path.Sensitive {
				shownA = "(a directory on the way to its target)"
			}
			c.diags = append(c.diags, diag.Errorf(diag.CodeLiveUnreadable, rng, "Store file not reachable by the service account",
				"File %s of certificate store %q cannot be read by user %q (service account %q): it is a symbolic link, and directory %s on the way to its target needs execute (search) permission for that user (%s).",
				shown(f), s.Name, who.name, acct.Name, shownA, describeMode(a)))
		} else if !canAccess(who, f, false) {
			c.diags = append(c.diags, diag.Errorf(diag.CodeLiveUnreadable, rng, "Store file not readable by the service account",
				"File %s of certificate store %q cannot be read by user %q (service account %q) (%s).",
				shown(f), s.Name, who.name, acct.Name, describeMode(f)))
		}
		if kind, ok := keyFiles[f]; ok && c.once("key:"+f) {
			// Mode bits say who may read a file only where files have
			// an owner and group: not on Windows (ACLs), where Go
			// derives them from the read-only attribute.
			if info, err := os.Stat(f); err == nil && hasOwner(info) && info.Mode().Perm()&0o066 != 0 {
				or := "store the key in a password-protected PKCS#12 file"
				if kind == certstore.FilePKCS12 {
					// Its password is empty, or encrypts not the key
					// (openssl pkcs12 -export -keypbe NONE).
					or = "export it again with a password that encrypts the key"
				}
				c.diags = append(c.diags, diag.Errorf(diag.CodeLiveKeyExposed, rng, "Unencrypted private key readable by others",
					"File %s of certificate store %q holds an unencrypted private key and has mode %s, so group or other users can read or change it. Run chmod 600 on it (or %s).",
					shown(f), s.Name, info.Mode().Perm(), or))
			}
		}
	}
}

// blockedAncestor returns the first directory above path, from the root
// down, that who may not search (execute permission), or "" when none: a
// store is only readable when every directory on its path can be passed
// through. Where a symbolic link on the way leads elsewhere, the kernel
// passes through the directories above its target too, so those of the
// resolved path are checked after the ones written.
func blockedAncestor(who identity, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if a := firstBlocked(who, abs); a != "" {
		return a
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		return firstBlocked(who, real)
	}
	return ""
}

// firstBlocked is blockedAncestor for the directories abs names, without
// following symbolic links.
func firstBlocked(who identity, abs string) string {
	var ancestors []string
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		ancestors = append(ancestors, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(ancestors) - 1; i >= 0; i-- {
		if !permits(who, ancestors[i], 1) {
			return ancestors[i]
		}
	}
	return ""
}

// linkBlocked is blockedAncestor for a store file that is a symbolic link
// (mounted secrets are), and "" for any other file: its mode bits, which
// canAccess reads through the link, are not all that decides.
func linkBlocked(who identity, file string) string {
	if fi, err := os.Lstat(file); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return ""
	}
	return blockedAncestor(who, file)
}

// shownAncestor names a directory above a store, unless the store path is
// sensitive: then any component of it would reveal part of the value.
func shownAncestor(s *model.CertificateStore, a string) string {
	if s.Path.Sensitive {
		return "(a directory above the store)"
	}
	return a
}

// canAccess reports whether who may read path (and, for a directory, search
// it), from the owner, group and mode bits. Root may read anything.
func canAccess(who identity, path string, dir bool) bool {
	need := fs.FileMode(4)
	if dir {
		need = 5
	}
	return permits(who, path, need)
}

// permits reports whether the owner, group or other bits that apply to who
// grant need (an rwx bit mask) on path. Root is granted everything, and a
// user that is unknown (validate) is not judged.
func permits(who identity, path string, need fs.FileMode) bool {
	if who.unknown {
		return true
	}
	info, err := os.Stat(path)
	if err != nil {
		return false
	}
	uid, gid, ok := fileOwner(info)
	if !ok {
		// No ownership information (Windows: ACLs decide): cannot
		// judge, do not invent an error.
		return true
	}
	if who.uid == "0" {
		return true // root: the kernel does not check
	}
	perm := info.Mode().Perm()
	var bits fs.FileMode
	switch {
	case uid == who.uid:
		bits = (perm >> 6) & 7
	case who.groups[gid]:
		bits = (perm >> 3) & 7
	default:
		bits = perm & 7
	}
	return bits&need == need
}

// describeMode says who owns path and its mode, for a detail that names
// path already (or hides it, as a sensitive value): when it cannot be
// examined, only why, without the path the *fs.PathError writes out.
func describeMode(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return statReason(err)
	}
	owner, group, ok := fileOwner(info)
	if !ok {
		return "mode " + info.Mode().Perm().String()
	}
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("owner %s, group %s, mode %s", owner, group, info.Mode().Perm())
}

// hasOwner reports whether the file info describes has an owner and group,
// so that its mode bits are the permission system.
func hasOwner(info fs.FileInfo) bool {
	_, _, ok := fileOwner(info)
	return ok
}

func toIdentity(u *user.User) (identity, error) {
	if u.Uid == "" {
		return identity{}, fmt.Errorf("user %s has no user id", u.Username)
	}
	id := identity{name: u.Username, uid: u.Uid, groups: map[string]bool{}}
	if u.Gid != "" {
		id.groups[u.Gid] = true
	}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			id.groups[g] = true
		}
	}
	return id, nil
}

func lookupReason(err error) string {
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return "no such user"
	}
	return err.Error()
}
