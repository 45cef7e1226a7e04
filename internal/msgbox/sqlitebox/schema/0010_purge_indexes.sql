-- Indexes for the foreign-key checks of Purge's deletes. Without them
-- SQLite checked each deleted delivery against every attempt and each
-- deleted body against every message (a full scan per row): a purge of a
-- few thousand messages held the write lock for tens of seconds, and the
-- engine's writes, in another process, failed with SQLITE_BUSY.
CREATE INDEX attempts_delivery ON attempts (delivery_id);
CREATE INDEX messages_received_body ON messages (received_body_id) WHERE received_body_id IS NOT NULL;
