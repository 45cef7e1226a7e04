-- Message box schema, version 1. Times are INTEGER microseconds since the
-- Unix epoch (UTC), the precision msgbox.Timestamp defines. Tables are
-- STRICT so that a type mistake in the Go code fails loudly instead of
-- storing text where a number belongs.

-- A body is stored as a row here plus its chunks. A Receive of a body larger
-- than one chunk commits the chunks in transactions of their own ("staged",
-- touched_at set at each chunk) and links the body to its message in a last
-- transaction, which clears touched_at. A staged body is an interrupted
-- Receive once it has not been touched for Options.StaleUploadAfter; Open
-- removes it, finding it through the partial index without scanning the
-- committed bodies. AUTOINCREMENT keeps a swept body's id from being reused
-- under a Receive that is still writing to it.
CREATE TABLE bodies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    touched_at INTEGER  -- NULL once a message references the body
) STRICT;

CREATE INDEX bodies_staged ON bodies (touched_at) WHERE touched_at IS NOT NULL;

CREATE TABLE body_chunks (
    body_id INTEGER NOT NULL REFERENCES bodies (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (body_id, seq)
) STRICT;

-- status is derived (msgbox.DeriveStatus) from routed, terminated and the
-- deliveries' states, and rewritten in every transaction that changes one of
-- them, so that List can filter on an index.
CREATE TABLE messages (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    receive_location TEXT    NOT NULL,
    file_name        TEXT    NOT NULL,
    content_type     TEXT    NOT NULL,
    properties       TEXT    NOT NULL,  -- JSON object
    source_key       TEXT    UNIQUE,    -- NULL: no de-duplication
    body_id          INTEGER NOT NULL UNIQUE REFERENCES bodies (id),
    size             INTEGER NOT NULL,
    sha256           BLOB    NOT NULL,  -- checked when the body is read back
    received_at      INTEGER NOT NULL,
    routed           INTEGER NOT NULL DEFAULT 0 CHECK (routed IN (0, 1)),
    terminated       INTEGER NOT NULL DEFAULT 0 CHECK (terminated IN (0, 1)),
    status           TEXT    NOT NULL CHECK (status IN
                         ('received', 'routed', 'retrying', 'suspended', 'delivered', 'terminated')),
    reason           TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX messages_status ON messages (status, seq);
CREATE INDEX messages_unrouted ON messages (seq) WHERE routed = 0 AND terminated = 0;

-- due_at is when the delivery can next be claimed: next_attempt_at while
-- pending or retrying, lease_until while in progress, NULL once final
-- (delivered, suspended, terminated). The partial index therefore holds only
-- the deliveries a Claim may want, however many delivered ones pile up.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT    NOT NULL REFERENCES messages (id),
    port            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN
                        ('pending', 'in_progress', 'retrying', 'delivered', 'suspended', 'terminated')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    due_at          INTEGER,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER,
    claimed_at      INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    UNIQUE (message_id, port)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (due_at, id) WHERE due_at IS NOT NULL;

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    message_id  TEXT    NOT NULL REFERENCES messages (id),
    port        TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    owner       TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'suspended')),
    error       TEXT    NOT NULL
) STRICT;

CREATE INDEX attempts_message ON attempts (message_id, id);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL REFERENCES messages (id),
    at         INTEGER NOT NULL,
    port       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    detail     TEXT    NOT NULL
) STRICT;

CREATE INDEX events_message ON events (message_id, id);
