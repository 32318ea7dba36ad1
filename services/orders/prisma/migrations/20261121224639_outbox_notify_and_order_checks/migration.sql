-- Wakes the outbox relay as soon as a transaction that wrote outbox rows commits
-- (NOTIFY is delivered at commit), instead of it waiting for its next poll.
-- Copied verbatim into a migration of every service (a test checks it).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Orders are never free and never empty, and a pending order always has a deadline.
ALTER TABLE "orders" ADD CONSTRAINT "orders_total_check" CHECK ("total_cents" > 0);
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_quantity_check" CHECK ("quantity" > 0);
ALTER TABLE "orders" ADD CONSTRAINT "orders_pending_deadline_check"
  CHECK (("status" = 'PENDING') = ("step_deadline" IS NOT NULL));
