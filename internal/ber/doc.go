// Package ber writes the streaming (BER indefinite-length) encodings of
// CMS that "openssl cms -stream" produces: constructed elements whose
// length is not known when their header is written, and a content OCTET
// STRING cut into definite-length chunks, so that a message of any size is
// written with a fixed amount of memory.
package ber
