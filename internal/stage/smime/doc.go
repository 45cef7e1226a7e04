// Package smime is bizpipe's S/MIME encoder (spec §6) and the matching
// decoder.
//
// An Encoder turns a message body into a complete MIME entity — header
// fields, an empty line, the body — that is optionally signed (clear:
// multipart/signed with a detached CMS signature, RFC 8551 §3.5.3; opaque:
// application/pkcs7-mime; smime-type=signed-data) and then optionally
// enveloped (application/pkcs7-mime; smime-type=enveloped-data for AES-CBC
// and Triple-DES, smime-type=authEnveloped-data for AES-GCM, RFC 5083/5084;
// the CMS work is done by package envelope). SignedData is built with
// github.com/smallstep/pkcs7 using the configured digest (never its SHA-1
// default) with signed attributes content-type, message-digest,
// signing-time and SMIMECapabilities, as OpenSSL writes them. All line
// breaks of the MIME structure are CRLF and the outermost entity carries
// "MIME-Version: 1.0". SplitEntity separates the top-level header fields
// from the body, for the HTTP transport.
//
// Stage (Config.NewStage, the component.StageConfig of the encoder block)
// is the streaming form of Encoder: the same MIME structure for the same
// options, written as the body is written to it, in memory that does not
// grow with the message (a few hundred KiB of buffers and the
// certificates). Its signatures are built from a digest taken on the way
// (signerinfo.go, the same SignerInfo pkcs7 makes); CMS content is BER with
// indefinite lengths and a chunked OCTET STRING, as "openssl cms -stream"
// writes it, and AES-GCM streams through package cms's own GHASH. Body
// errors that can only be seen on the way (a 7bit or 8bit body that breaks
// its encoding's rules) come from Write or Close after output has started;
// the caller discards that output.
//
// Decode reads such messages and those written by "openssl cms" and
// "openssl smime" (clear and opaque signatures, CBC and GCM encryption, any
// nesting), verifies every signature against trust roots at a given time,
// and returns the innermost content type and body.
//
// DecodeStream does the same for messages of any size with bounded memory:
// it reads the message in place when it is a file (or spools it to an
// unlinked temporary file) and decodes it layer by layer over sections of
// it and of further spool files for base64 bodies and decrypted content,
// each freed once the next layer is written, hashing the signed content as it
// streams, decrypting CBC and GCM in chunks (cms.DecryptStream) and parsing
// streamed (indefinite-length) CMS without gathering the content
// (cms.StreamSignedData). The body reaches the caller's writer only after
// every signature verified and every GCM tag matched. Decode stays the
// in-memory implementation; the tests check that both agree on every
// message they build and on fuzzed input.
//
// # Bodies: binary and text
//
// The body of a type other than text/* is never altered: the bytes given to
// Encode are the bytes that the transfer encoding carries and that Decode,
// or "openssl cms -verify" followed by undoing the transfer encoding,
// returns — byte for byte, whatever they contain (NUL, lone CR or LF,
// trailing white space, "From " lines).
//
// A text/* body is put in MIME canonical form before it is encoded and
// signed (RFC 8551 §3.1.1, RFC 2046 §4.1.1): every line break — CRLF, bare
// LF or bare CR — becomes CRLF; nothing else changes (no charset
// conversion, trailing white space and a missing final line break are
// kept). That canonical form is the message: it is what is signed, what
// "openssl cms -verify" outputs and what Decode returns. The original
// line-break convention is not recorded and not restored, because a
// receiver cannot know it: for text, "the original bytes" means the
// canonical bytes, which equal the input exactly when it already uses
// CRLF.
//
// # Transfer encodings
//
// base64 (the default) writes 76-character lines. quoted-printable also
// encodes a line-initial "." and "From " so that mail software cannot alter
// signed text; for non-text bodies CR and LF are encoded, so binary data
// survives exactly. 7bit and 8bit send the octets unencoded and therefore
// require a body that is valid in that domain (no NUL, CR and LF only as
// CRLF, lines of at most 998 octets, and for 7bit only ASCII): Encode
// returns an error rather than send a body that transports and verifiers
// would "repair". binary accepts anything. A multipart/* or message/* body
// cannot be base64 or quoted-printable encoded (RFC 2045 §6.4).
//
// # Verifying with OpenSSL
//
// "openssl cms -verify" canonicalises the signed part of a clear-signed
// message unless given -binary, and with -binary alone it keeps the CR of
// the CRLF in front of the closing delimiter (CRLF-delimited multiparts,
// which RFC 2046 requires and this package writes, then never verify). So:
// every message this package writes verifies with the plain
// "openssl cms -verify", except clear-signed non-text bodies sent with
// content_transfer_encoding "binary", which need
// "openssl cms -verify -binary -crlfeol". Opaque signatures need no flags.
package smime
