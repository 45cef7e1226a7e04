-- The MDN an as2 receive location answered a received message with
-- (language §11): kept so that a repeated Message-ID is answered with the
-- original, and, for an asynchronous MDN, the durable work of POSTing it
-- (state 'pending', due at next_attempt_at). data is the whole MIME
-- entity, at most msgbox.MaxReceiptSize bytes. A trigger deletes it with
-- its message, so that Purge needs no change.
CREATE TABLE sent_mdns (
    message_id      TEXT    PRIMARY KEY REFERENCES messages (id),
    location        TEXT    NOT NULL,
    data            BLOB    NOT NULL,
    url             TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL
) STRICT;

CREATE INDEX sent_mdns_due ON sent_mdns (location, next_attempt_at) WHERE state = 'pending';

CREATE TRIGGER sent_mdns_purged BEFORE DELETE ON messages
BEGIN
    DELETE FROM sent_mdns WHERE message_id = OLD.id;
END;
