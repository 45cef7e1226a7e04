// Package envelope implements CMS enveloping for S/MIME (RFC 5652
// EnvelopedData, RFC 5083/5084 AuthEnvelopedData with AES-GCM) using only the
// Go standard library.
//
// Encrypt produces DER; Decrypt accepts DER and BER (indefinite lengths,
// constructed OCTET STRINGs, as written by "openssl cms -stream").
// Key transport is RSA (PKCS #1 v1.5 on Encrypt, as OpenSSL does by default;
// PKCS #1 v1.5 and RSAES-OAEP on Decrypt).
//
// The package has no mutable package-level state: every call takes its
// algorithm and random source as arguments, so concurrent calls with
// different algorithms are safe.
//
// Summary of the API:
//
//	ParseAlgorithm("aes256-gcm") → AES256GCM; a.Authenticated(), a.SMIMEType()
//	Encrypt(rand, content, alg, certs...) → DER ContentInfo
//	Decrypt(derOrBER, cert, key) → content, or ErrNoRecipient / ErrDecrypt / a parse error
//	DecryptAny(derOrBER, recipients) → content and the recipient the message is for
//	                                   (a *NoRecipientError names whom it is for, when none)
//
// Encrypt allocates the output once, at its exact final size, and encrypts
// the content directly into it; Decrypt allocates one buffer of the
// ciphertext size and decrypts in place. Memory use is therefore about one
// copy of the body per call, which matters for bodies of hundreds of MiB.
package cms
