// Package registry lists bizpipe's built-in components. Adding a component
// is one package plus one line here.
package registry

import (
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/transport/as2"
	"github.com/bizpipe/bizpipe/internal/transport/file"
	"github.com/bizpipe/bizpipe/internal/transport/http"
)

// Builtin returns a new registry of the built-in components. Each call makes
// a fresh one, so that a caller (a test) may register more without touching
// anyone else's.
func Builtin() *component.Registry {
	r, err := component.NewRegistry(
		file.ReceiveSpec,
		file.SendSpec,
		http.ReceiveSpec,
		http.SendSpec,
		as2.SendSpec,
		as2.ReceiveSpec,
		smime.EncoderSpec,
		smime.DecoderSpec,
	)
	if err != nil {
		// The built-in specs are fixed at compile time and checked by
		// this package's tests: an error is a programming error.
		panic(err)
	}
	return r
}
