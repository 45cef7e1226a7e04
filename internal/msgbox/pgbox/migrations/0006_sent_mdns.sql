-- The MDN an as2 receive location answered a received message with
-- (language §11): kept so that a repeated Message-ID is answered with the
-- original, and, for an asynchronous MDN, the durable work of POSTing it
-- (state 'pending', due at next_attempt_at). data is the whole MIME
-- entity, at most msgbox.MaxReceiptSize bytes. Gone with its message (ON
-- DELETE CASCADE), which Purge deletes.
CREATE TABLE sent_mdns (
    message_id      text        PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    location        text        NOT NULL,
    data            bytea       NOT NULL,
    url             text        NOT NULL,
    state           text        NOT NULL,
    attempts        integer     NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL
);

CREATE INDEX sent_mdns_due ON sent_mdns (location, next_attempt_at) WHERE state = 'pending';
