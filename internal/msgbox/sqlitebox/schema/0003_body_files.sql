-- A body larger than one chunk is stored as a file in the directory beside
-- the database (messagebox.db.bodies), named file here; its body_chunks are
-- then none. The file is written, synced and renamed into place before the
-- transaction that inserts this row commits, so a committed row never
-- names a partial file; a file that no row names is an interrupted Receive,
-- removed by Open (see sweepFiles). NULL: the body is in body_chunks.
ALTER TABLE bodies ADD COLUMN file TEXT;

CREATE UNIQUE INDEX bodies_file ON bodies (file) WHERE file IS NOT NULL;
