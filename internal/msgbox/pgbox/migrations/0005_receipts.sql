-- A partner's proof of receipt of a delivery (an AS2 MDN: language §11),
-- written in the transaction that records the attempt's outcome; a later
-- attempt's replaces it. A table of its own rather than columns of
-- deliveries, so that the rows every claim reads stay small. data is at
-- most msgbox.MaxReceiptSize bytes. Gone with its delivery (ON DELETE
-- CASCADE), which Purge deletes with the message.
CREATE TABLE receipts (
    delivery_id  bigint PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    message_id   text   NOT NULL,
    content_type text   NOT NULL,
    summary      text   NOT NULL,
    data         bytea  NOT NULL
);

CREATE INDEX receipts_message ON receipts (message_id);
