// Package as2 is bizpipe's AS2 protocol layer (RFC 4130, spec §11): the
// message integrity check (MIC) of §7.3.1, the request headers a sender
// writes and a receiver reads, and Message Disposition Notifications
// (RFC 3798/8098 multipart/report) built, optionally signed, parsed and
// verified.
//
// It does no I/O of its own: the S/MIME work is done by package
// internal/stage/smime (signing MDNs with its Encoder, verifying them with
// its Decode), and the HTTP exchange, the message box and retries belong
// to the transports that use it.
//
// Everything read from the network is treated as hostile: inputs are
// bounded (MaxMDNSize, field counts), malformed input is an error that says
// what was wrong, never a panic.
package as2
