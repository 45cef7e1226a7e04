-- The body's checksum, checked when the body is read back: SHA-256 (32
-- bytes) for bodies stored before this version, CRC-32C (4 bytes) since.
-- It guards against storage corruption (a torn or truncated write, a bad
-- sector), not against an attacker, who could rewrite it as well; CRC-32C
-- does that at memory speed, where SHA-256 cost a core 0.7 s per GiB on
-- receive and again on every read.
ALTER TABLE messages RENAME COLUMN sha256 TO checksum;
