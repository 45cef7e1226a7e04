-- A partner's proof of receipt of a delivery (an AS2 MDN: language §11),
-- written in the transaction that records the attempt's outcome; a later
-- attempt's replaces it. A table of its own rather than columns of
-- deliveries, so that the rows every claim reads stay small. data is at
-- most msgbox.MaxReceiptSize bytes. Purge deletes it with the message.
CREATE TABLE receipts (
    delivery_id  INTEGER PRIMARY KEY REFERENCES deliveries (id),
    message_id   TEXT    NOT NULL REFERENCES messages (id),
    content_type TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    data         BLOB    NOT NULL
) STRICT;

CREATE INDEX receipts_message ON receipts (message_id);
