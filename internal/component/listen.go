package component

import "github.com/bizpipe/bizpipe/internal/config/value"

// ListenConfig is implemented by the Config of a receive transport that
// listens on a TCP address of the server that runs it (the http and as2
// transports' listen). The validation rules find listeners by this
// interface: two receive locations that run on one server cannot listen
// on one address, and the second would fail to start.
type ListenConfig interface {
	Config
	// ListenAddress is the address listened on, host:port, as net.Listen
	// takes it.
	ListenAddress() value.Value[string]
}

// OwnerConfig is implemented by the Config of a receive transport that
// marks what it takes with the name of the process that takes it
// (ReceiveEnv.Owner: the file transport's claims), and cannot with every
// name. The validation rules check the names of the servers (and, for
// run --host, the host) the location runs on with CheckOwner, which the
// transport's constructor applies too.
type OwnerConfig interface {
	Config
	// CheckOwner is why the transport cannot be built with owner, or
	// nil.
	CheckOwner(owner string) error
}

// Owner is the name a run process works under in the message box and in
// what its receive transports mark (ReceiveEnv.Owner): its server, or,
// for a process that runs only host (run --host), "server@host".
func Owner(server, host string) string {
	if host == "" {
		return server
	}
	return server + "@" + host
}

// InputConfig is implemented by the Config of a receive transport that
// takes its inputs from a place on the server that runs it, where another
// receive location could take the same ones (the file transport's
// directory and pattern). The validation rules find two receive locations
// running on one server that share inputs: each input would go to
// whichever took it first, through its own pipeline and routing.
type InputConfig interface {
	Config
	// InputPlace is where the inputs are taken from: a key equal for two
	// configs of the transport that take from one place, and the place
	// as the user wrote it, for a message (`directory "in"`); ok is false when it is not known (a value
	// known only at run time) and the location is not judged.
	InputPlace() (key, shown string, ok bool)
	// SharesInput reports whether one input at that place could be taken
	// both by this location and by other (a Config of the same transport
	// with the same key), and why, as a clause: such an input, and what
	// of each config takes it.
	SharesInput(other Config) (why string, shared bool)
	// InputDir is the place as a directory of the server's file system,
	// false when it is none or not known: two keys that differ may name
	// one directory there (a symbolic link, a mount, a name in another
	// letter case on a file system that ignores it), which the live rules
	// find.
	InputDir() (string, bool)
}
