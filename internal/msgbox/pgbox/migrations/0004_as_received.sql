-- The bytes of a message as received, when its stored body is something
-- else (a decoding receive location stores the decoded payload): chunks
-- like body_chunks, written in the transaction that inserts the message,
-- and gone with it (ON DELETE CASCADE). received_size NULL: the body is the
-- bytes as received.
CREATE TABLE received_chunks (
    message_seq bigint  NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    seq         integer NOT NULL,
    data        bytea   NOT NULL,
    PRIMARY KEY (message_seq, seq)
);
ALTER TABLE received_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

ALTER TABLE messages ADD COLUMN received_size bigint;
ALTER TABLE messages ADD COLUMN received_sha256 bytea;
