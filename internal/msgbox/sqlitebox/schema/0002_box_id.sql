-- The box's identity: random, made once when the box is created. Transports
-- name what they stage outside the box with it (send.FileOptions.Namespace),
-- so that two boxes writing into one directory never take each other's
-- staged files for their own.
CREATE TABLE box_identity (
    id TEXT NOT NULL
) STRICT;

INSERT INTO box_identity (id) VALUES (lower(hex(randomblob(8))));
