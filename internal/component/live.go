package component

import (
	"github.com/bizpipe/bizpipe/internal/config/value"
)

// LiveConfig is implemented by a Config that uses files or directories of
// the server that runs it. The live rules (language §7.3: validate --live
// --server NAME, and run at its start) check them, for the instances on
// that server, as the component would use them, so that what a component
// declares here is checked for every component alike, without a rule that
// knows the component.
type LiveConfig interface {
	Config
	Live() Live
}

// Live is what a component uses on the server that runs it.
type Live struct {
	// Dirs are the directories it polls or writes (BP6006).
	Dirs []LiveDir
	// Files are the sets of files it loads when it starts (BP6007).
	Files []LiveFiles
}

// Access is what a component does in a directory.
type Access uint8

// Accesses, combined with |.
const (
	// Read: it lists the directory and reads its files.
	Read Access = 1 << iota
	// Write: it creates, renames or removes files in it.
	Write
)

// LiveDir is a directory a component uses.
type LiveDir struct {
	// Attribute is the attribute that names it ("path").
	Attribute string
	// Path is the directory, as the component opens it. One unknown
	// during validate makes the rule skip it, and warn (BP1009) that it
	// does.
	Path value.Value[string]
	// Access is what the component does in it: read, write, or both.
	Access Access
}

// LiveFiles are files a component loads together when it starts (a TLS
// certificate and its key), with the loader it uses then.
type LiveFiles struct {
	// Block names where the attributes are, "" for the component's block
	// itself ("tls").
	Block string
	// Attributes are the attributes naming the files, by name; unset ones
	// are left out. A file whose path is unknown during validate makes the
	// rule skip the set, and warn (BP1009) that it does.
	Attributes map[string]value.Value[string]
	// Load loads them as the component does at start. A failure names the
	// attribute of the file at fault (a key that does not match its
	// certificate is key_file's), and its error names the files but never
	// quotes their content.
	Load func() (attribute string, err error)
}
