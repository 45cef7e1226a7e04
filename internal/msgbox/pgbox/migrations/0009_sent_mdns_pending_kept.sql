-- A message whose asynchronous MDN is still to be POSTed is not purged
-- (Purge's purgeable). Purge reads that in the snapshot its statement
-- takes as it starts; a repeat of the message that queues its MDN again
-- (PutMDN, pending) committed after that, before the statement gets to the
-- message, changes no row the statement reads or locks then: the message
-- was deleted, and the MDN queued with it. The delete of a pending MDN,
-- which only a purge makes (ON DELETE CASCADE), sees the row as it is
-- now: it fails the statement as a history entry added meanwhile does
-- (foreign_key_violation), and Purge runs it again, with a snapshot that
-- has the MDN pending, keeping the message.
CREATE FUNCTION sent_mdns_pending_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = 'pending' THEN
        RAISE EXCEPTION 'message % has an asynchronous MDN still to send: not purged', OLD.message_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER sent_mdns_pending_kept BEFORE DELETE ON sent_mdns
    FOR EACH ROW EXECUTE FUNCTION sent_mdns_pending_kept();
