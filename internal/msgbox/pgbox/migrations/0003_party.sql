-- What a receive location's decoder stages made of a message (language
-- §10): party is the party whose signature verified ('' when none did),
-- decoding is msgbox.Decoding ('' not decoded, 'decoded', 'failed'). A
-- failed message is stored with the bytes as received and never routed.
ALTER TABLE messages ADD COLUMN party text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN decoding text NOT NULL DEFAULT ''
    CHECK (decoding IN ('', 'decoded', 'failed'));
