-- Deliveries sent with an asynchronous AS2 MDN asked for (language §11):
-- the delivery stays in progress under the lease of msgbox.AwaitOwner
-- until the MDN, found by as2_message_id (its Original-Message-ID),
-- settles it, or until deadline (mdn_timeout). mic is what checks the MDN.
-- A later attempt's replaces it; gone with its delivery (ON DELETE
-- CASCADE), which Purge deletes with the message.
CREATE TABLE awaited_mdns (
    delivery_id    bigint      PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    message_id     text        NOT NULL,
    port           text        NOT NULL,
    as2_message_id text        NOT NULL,
    mic            text        NOT NULL,
    deadline       timestamptz NOT NULL
);

CREATE INDEX awaited_mdns_as2_id ON awaited_mdns (as2_message_id);
