-- Whether the message an MDN answers was signed by its party
-- (msgbox.SentMDN.Authenticated): the asynchronous MDNs of such messages
-- are claimed first, and those of the others only up to a share of the
-- POSTs in flight, so that requests anyone can make, naming addresses that
-- never answer, cannot hold up the MDNs of partners' messages. MDNs kept
-- before this column are counted as unauthenticated.
ALTER TABLE sent_mdns ADD COLUMN authenticated INTEGER NOT NULL DEFAULT 0;

DROP INDEX sent_mdns_due;
CREATE INDEX sent_mdns_due ON sent_mdns (location, authenticated, next_attempt_at) WHERE state = 'pending';
