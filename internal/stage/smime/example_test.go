package smime_test

import (
	"fmt"
	"log"

	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// An unsigned, unencrypted entity in quoted-printable, split the way the
// HTTP transport sends it. Text is canonicalised to CRLF line breaks.
func ExampleSplitEntity() {
	e, err := smime.NewEncoder(smime.Options{ContentTransferEncoding: "quoted-printable"})
	if err != nil {
		log.Fatal(err)
	}
	entity, err := e.Encode(nil, "text/plain; charset=utf-8", []byte("Grüße\nFrom Köln\n"), nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fields, body, err := smime.SplitEntity(entity)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range fields {
		fmt.Printf("%s: %s\n", f.Name, f.Value)
	}
	fmt.Printf("%q\n", body)
	// Output:
	// MIME-Version: 1.0
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: quoted-printable
	// "Gr=C3=BC=C3=9Fe\r\n=46rom K=C3=B6ln\r\n"
}
