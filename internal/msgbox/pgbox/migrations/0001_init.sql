-- Message box schema, version 1. Times are timestamptz (microseconds, the
-- precision msgbox.Timestamp defines), taken from the database's clock.
--
-- Locking discipline (pgbox's Go code keeps it; see the package comment):
-- a transaction locks the delivery rows it changes first, in id order, and
-- the message rows after, in id order; nobody waits for a delivery lock while
-- holding a message lock. Every change to a delivery's state holds its
-- message's row lock, so that the status derived from all of a message's
-- deliveries is computed from states nobody else is changing.

-- status is derived (msgbox.DeriveStatus) from routed, terminated and the
-- deliveries' states, and rewritten in every transaction that changes one of
-- them, so that List can filter on an index. Free-text columns never hold NUL
-- or invalid UTF-8 (PostgreSQL text cannot); source_key is bytea because it
-- must match exactly whatever bytes a file name has.
CREATE TABLE messages (
    seq              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text        NOT NULL UNIQUE,
    receive_location text        NOT NULL,
    file_name        text        NOT NULL,
    content_type     text        NOT NULL,
    properties       text        NOT NULL,  -- JSON object (text: jsonb rejects \u0000)
    source_key       bytea       UNIQUE,    -- NULL: no de-duplication
    size             bigint      NOT NULL,
    sha256           bytea       NOT NULL,  -- checked when the body is read back
    received_at      timestamptz NOT NULL,
    routed           boolean     NOT NULL DEFAULT false,
    terminated       boolean     NOT NULL DEFAULT false,
    status           text        NOT NULL CHECK (status IN
                         ('received', 'routed', 'retrying', 'suspended', 'delivered', 'terminated')),
    reason           text        NOT NULL DEFAULT ''
);

CREATE INDEX messages_status ON messages (status, seq);
CREATE INDEX messages_unrouted ON messages (seq) WHERE NOT routed AND NOT terminated;

-- A body is stored in rows of up to pgbox.ChunkSize bytes, written in the
-- transaction that inserts its message: a Receive that fails leaves nothing.
-- Bodies are often compressed or encrypted already; EXTERNAL stores them out
-- of line without trying to compress them again.
CREATE TABLE body_chunks (
    message_seq bigint  NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    seq         integer NOT NULL,
    data        bytea   NOT NULL,
    PRIMARY KEY (message_seq, seq)
);
ALTER TABLE body_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- due_at is when the delivery can next be claimed: next_attempt_at while
-- pending or retrying, lease_until while in progress, NULL once final
-- (delivered, suspended, terminated). The partial indexes therefore hold only
-- the deliveries a Claim or NextDue may want, however many delivered ones
-- pile up.
CREATE TABLE deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      text        NOT NULL REFERENCES messages (id),
    port            text        NOT NULL,
    state           text        NOT NULL CHECK (state IN
                        ('pending', 'in_progress', 'retrying', 'delivered', 'suspended', 'terminated')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    due_at          timestamptz,
    lease_owner     text        NOT NULL DEFAULT '',
    lease_until     timestamptz,
    claimed_at      timestamptz,
    last_error      text        NOT NULL DEFAULT '',
    UNIQUE (message_id, port)
);

-- Claim: the oldest due first, whatever the port.
CREATE INDEX deliveries_due ON deliveries (due_at, id) WHERE due_at IS NOT NULL;
-- Claim and NextDue for a few ports among many busy ones.
CREATE INDEX deliveries_port_due ON deliveries (port, due_at) WHERE due_at IS NOT NULL;
-- Recover: what an owner holds.
CREATE INDEX deliveries_owner ON deliveries (lease_owner) WHERE state = 'in_progress';

CREATE TABLE attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint      NOT NULL REFERENCES deliveries (id),
    message_id  text        NOT NULL REFERENCES messages (id),
    port        text        NOT NULL,
    number      integer     NOT NULL,
    owner       text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'suspended')),
    error       text        NOT NULL
);

CREATE INDEX attempts_message ON attempts (message_id, id);
CREATE INDEX attempts_delivery ON attempts (delivery_id, number);

CREATE TABLE events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id text        NOT NULL REFERENCES messages (id),
    at         timestamptz NOT NULL,
    port       text        NOT NULL,
    status     text        NOT NULL,
    detail     text        NOT NULL
);

CREATE INDEX events_message ON events (message_id, id);
