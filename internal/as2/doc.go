// Package as2 is bizpipe's AS2 protocol layer (RFC 4130, spec §11): the
// message integrity check (MIC) of §7.3.1, the request headers a sender
// writes and a receiver reads, and Message Disposition Notifications
// (RFC 3798/8098 multipart/report) built, optionally signed, parsed and
// verified.
//
// It does no I/O of its own: the S/MIME work is done by package
// internal/stage/smime (signing MDNs with its Encoder, verifying them with
// its Decode) and package internal/cms, and the HTTP exchange, the message
// box and retries belong to the transports that use it.
//
// Everything read from the network is treated as hostile: inputs are
// bounded (MaxMDNSize, part and field counts), malformed input is an error
// that says what was wrong, never a panic (FuzzParseMDN, FuzzParseHeaders).
//
// # A sender
//
// Request.Header gives the AS2 headers (MessageID keeps the Message-ID of
// a delivery stable across retries); a Hasher fed with what MICContent
// selects from the entity before encryption gives the MIC in any
// algorithm. The MDN that comes back goes through ParseMDN with the
// partner's signing certificates: sync, JoinEntity of the response; async,
// JoinEntity of the request that carries it, read unverified by the
// receive location (the delivery it answers, and so the partner, is known
// only from it) and verified by the port with ReceivedMDN.Verify. Then
// ReceivedMDN.Check, whose *NegativeError means "suspend" and any other
// error "failed attempt".
//
// # A receiver
//
// ParseRequest reads the headers; the receive pipeline's
// smime.DecodeStream, given DecodeOptions.MICHash =
// NotificationOptions.MICAlg().Hash(), computes the MIC of what arrived
// while it decrypts and verifies, in bounded memory (the tests compute
// the same in memory to compare); BuildMDN writes the receipt,
// signed with the group's signing certificate when asked, to be sent with
// a Content-Length.
//
// # Interoperability decisions
//
// Checked against libas2 0.8.2 and OpenSSL in this package's tests:
//
//   - The MIC is compared in the algorithm the MDN names, even when it is
//     not the one requested (libas2 always uses the digest of the
//     message's signature), and an MDN's signature digest is not checked
//     against the request (libas2 signs with its own configured one).
//   - Dispositions are written "processed/error: text" (RFC 4130) and read
//     with ":" or "=" after the modifier (libas2 writes "failed/failure=text").
//   - Names compare case-insensitively, with or without the hyphen, for MIC
//     algorithms (libas2 writes "SHA-256").
//   - A signed MDN is trusted only when signed by exactly one of the
//     partner's certificates, valid at the given time.
package as2
