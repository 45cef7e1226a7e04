-- Deliveries sent with an asynchronous AS2 MDN asked for (language §11):
-- the delivery stays in progress under the lease of msgbox.AwaitOwner
-- until the MDN, found by as2_message_id (its Original-Message-ID),
-- settles it, or until deadline (mdn_timeout). mic is what checks the MDN.
-- A later attempt's replaces it; a trigger deletes it with its delivery.
CREATE TABLE awaited_mdns (
    delivery_id    INTEGER PRIMARY KEY REFERENCES deliveries (id),
    message_id     TEXT    NOT NULL,
    port           TEXT    NOT NULL,
    as2_message_id TEXT    NOT NULL,
    mic            TEXT    NOT NULL,
    deadline       INTEGER NOT NULL
) STRICT;

CREATE INDEX awaited_mdns_as2_id ON awaited_mdns (as2_message_id);

CREATE TRIGGER awaited_mdns_purged BEFORE DELETE ON deliveries
BEGIN
    DELETE FROM awaited_mdns WHERE delivery_id = OLD.id;
END;
