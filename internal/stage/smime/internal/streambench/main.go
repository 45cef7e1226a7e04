// Command streambench streams one file through the smime encoder stage, as
// a send port would: the output header, an empty line, then the body. It
// exists for scripts/bench-stream.sh, which times it against openssl.
//
//	streambench -in data -out msg.eml -signer-cert s.pem -signer-key s.key \
//	    -recip r.pem [-signature clear] [-alg aes256-cbc] [-cte binary]
package main

import (
	"bufio"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

func run() error {
	in := flag.String("in", "", "input file")
	out := flag.String("out", "", "output file")
	signerCert := flag.String("signer-cert", "", "signing certificate (PEM)")
	signerKey := flag.String("signer-key", "", "signing key (PKCS #8 PEM)")
	recip := flag.String("recip", "", "recipient certificate (PEM)")
	sig := flag.String("signature", "clear", "none, clear or opaque")
	alg := flag.String("alg", "aes256-cbc", "encryption algorithm, or none")
	cte := flag.String("cte", "binary", "content transfer encoding")
	ct := flag.String("content-type", "application/octet-stream", "the message's content type")
	flag.Parse()

	o := smime.Options{Signature: *sig, Digest: "sha256", IncludeCertificate: true, ContentTransferEncoding: *cte}
	var signer *smime.Signer
	if *sig != "none" {
		cert, err := readCert(*signerCert)
		if err != nil {
			return err
		}
		key, err := readKey(*signerKey)
		if err != nil {
			return err
		}
		signer = &smime.Signer{Cert: cert, Key: key}
	}
	var recipient *x509.Certificate
	if *alg != "none" {
		a, err := cms.ParseAlgorithm(*alg)
		if err != nil {
			return err
		}
		o.Encrypt, o.Algorithm = true, a
		if recipient, err = readCert(*recip); err != nil {
			return err
		}
	}
	st, err := smime.NewStage(o, signer, recipient, nil)
	if err != nil {
		return err
	}
	enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: *ct}}})
	if err != nil {
		return err
	}

	src, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(dst, 64<<10)
	for _, f := range enc.Header().Fields {
		fmt.Fprintf(bw, "%s: %s\r\n", f.Name, f.Value)
	}
	bw.WriteString("\r\n")
	w := enc.Wrap(bw)
	buf := make([]byte, 64<<10)
	if _, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{src}, buf); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return dst.Close()
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%s: no %s PEM block", path, typ)
	}
	return blk.Bytes, nil
}

func readCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func readKey(path string) (crypto.Signer, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New(path + ": not a signing key")
	}
	return s, nil
}
