-- The bytes of a message as received, when its stored body is something
-- else (a decoding receive location stores the decoded payload): always a
-- body file (bodies.file), written and synced before the transaction that
-- inserts the message commits, like a large body. NULL: the body is the
-- bytes as received. Purge deletes it with the message.
ALTER TABLE messages ADD COLUMN received_body_id INTEGER REFERENCES bodies (id);
ALTER TABLE messages ADD COLUMN received_size INTEGER;
ALTER TABLE messages ADD COLUMN received_checksum BLOB;
