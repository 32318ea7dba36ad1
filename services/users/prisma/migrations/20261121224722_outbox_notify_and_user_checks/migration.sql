-- Wakes the outbox relay as soon as a transaction that wrote outbox rows commits
-- (NOTIFY is delivered at commit), instead of it waiting for its next poll.
-- Copied verbatim into a migration of every service (a test checks it).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Emails are stored lower-cased, which is what makes the unique index case-insensitive.
ALTER TABLE "users" ADD CONSTRAINT "users_email_lower_check" CHECK ("email" = lower("email"));
-- A deleted account keeps its row but never its address, so the address can be registered again.
ALTER TABLE "users" ADD CONSTRAINT "users_deleted_scrubbed_check"
  CHECK ("deleted_at" IS NULL OR "email" = 'deleted+' || "id"::text || '@invalid');
