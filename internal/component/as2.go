package component

import "github.com/bizpipe/bizpipe/internal/config/value"

// AS2Config is implemented by the Config of a transport that speaks AS2
// (language §11), send or receive. The validation rules find AS2 by this
// interface, not by a transport's name: BP7009 (the group's as2_id, the
// partner's as2_id, an async MDN without a URL to send it to) applies to
// every transport that implements it, and a send transport's partner is the
// party whose signing certificates verify its MDNs when its Needs ask for
// PartySigning (BP7006–BP7008).
type AS2Config interface {
	Config
	AS2() AS2
}

// AS2 is what an AS2 transport's configuration says about the identities
// and receipts it uses.
type AS2 struct {
	// Partner is the name of the party a send transport exchanges with
	// (partner = party.NAME, a PartyRef attribute); not Set for a receive
	// transport, which accepts from every party that has an as2_id.
	Partner value.Value[string]
	// MDN is the receipt a send transport asks for: "none", "sync" or
	// "async"; not Set for a receive transport.
	MDN value.Value[string]
	// AsyncMDNURL is where the partner is asked to send an async MDN: the
	// rules judge the partner's signing certificates on the servers of the
	// receive locations that serve its path (Path).
	AsyncMDNURL value.Value[string]
	// Path is the URL path a receive transport serves, where async MDNs
	// for the group's sends are posted too; not Set for a send transport.
	Path value.Value[string]
}
