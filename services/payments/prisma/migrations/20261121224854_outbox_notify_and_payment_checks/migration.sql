-- Wakes the outbox relay as soon as a transaction that wrote outbox rows commits
-- (NOTIFY is delivered at commit), instead of it waiting for its next poll.
-- Copied verbatim into a migration of every service (a test checks it).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- What a payment row may look like, whatever the application does: amounts are
-- positive ISO-coded money, only a VOIDED tombstone (a compensation that came
-- before any authorize) lacks user and amount, and a payment that holds or took
-- money always names the provider authorization to release it with.
ALTER TABLE "payments" ADD CONSTRAINT "payments_amount_check" CHECK ("amount_cents" > 0);
ALTER TABLE "payments" ADD CONSTRAINT "payments_currency_check" CHECK ("currency" ~ '^[A-Z]{3}$');
ALTER TABLE "payments" ADD CONSTRAINT "payments_details_check" CHECK (
  "status" = 'VOIDED' OR ("user_id" IS NOT NULL AND "amount_cents" IS NOT NULL AND "currency" IS NOT NULL)
);
ALTER TABLE "payments" ADD CONSTRAINT "payments_authorization_check" CHECK (
  "status" NOT IN ('AUTHORIZED', 'CAPTURED', 'REFUNDED') OR "provider_authorization_id" IS NOT NULL
);
