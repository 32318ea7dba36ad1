-- Wakes the outbox relay as soon as a transaction that wrote outbox rows commits
-- (NOTIFY is delivered at commit), instead of it waiting for its next poll.
-- Copied verbatim into a migration of every service (a test checks it).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- The database refuses to oversell, whatever the application does.
ALTER TABLE "products" ADD CONSTRAINT "products_stock_check" CHECK ("reserved" >= 0 AND "reserved" <= "on_hand");
ALTER TABLE "products" ADD CONSTRAINT "products_price_check" CHECK ("price_cents" > 0);
ALTER TABLE "reservation_lines" ADD CONSTRAINT "reservation_lines_quantity_check" CHECK ("quantity" > 0);
