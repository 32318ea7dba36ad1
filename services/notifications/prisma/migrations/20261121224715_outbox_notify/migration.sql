-- Wakes the outbox relay as soon as a transaction that wrote outbox rows commits
-- (NOTIFY is delivered at commit), instead of it waiting for its next poll.
-- Copied verbatim into a migration of every service (a test checks it).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
