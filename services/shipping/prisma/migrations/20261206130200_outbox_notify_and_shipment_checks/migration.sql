-- Wakes the outbox relay as soon as a transaction that wrote outbox rows commits
-- (NOTIFY is delivered at commit), instead of it waiting for its next poll.
-- Copied verbatim into a migration of every service (a test checks it).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- What a shipment row may look like, whatever the application does: a scheduled
-- shipment names its carrier, tracking id and address; a refused one its reason.
ALTER TABLE "shipments" ADD CONSTRAINT "shipments_scheduled_check" CHECK (
  "status" <> 'SCHEDULED' OR ("carrier" IS NOT NULL AND "tracking_id" IS NOT NULL AND "address" IS NOT NULL)
);
ALTER TABLE "shipments" ADD CONSTRAINT "shipments_failure_check" CHECK (
  "failure_reason" IS NULL OR ("status" = 'CANCELLED' AND "failure_reason" = 'SHIPPING_UNAVAILABLE')
);
