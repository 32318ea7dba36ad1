-- The saga as one table (src/saga/steps.ts), with a shipping step for orders
-- placed with an address. Written from `prisma migrate diff`, then edited so
-- that nothing is lost: the history keeps the names its rows were written
-- with (as text, converted in place), and an order caught in REFUNDING_PAYMENT
-- (a step the table no longer has: releasing the payment refunds a capture)
-- continues in VOIDING_PAYMENT, which accepts the same replies.

-- AlterEnum
ALTER TYPE "cancellation_reason" ADD VALUE 'SHIPPING_UNAVAILABLE';

-- AlterTable: the history as text, before the enum it used goes
ALTER TABLE "saga_transitions" ALTER COLUMN "from_step" TYPE TEXT USING ("from_step"::text),
  ALTER COLUMN "to_step" TYPE TEXT USING ("to_step"::text);

-- AlterEnum
CREATE TYPE "saga_step_new" AS ENUM ('RESERVING_STOCK', 'AUTHORIZING_PAYMENT', 'SCHEDULING_SHIPMENT', 'CAPTURING_PAYMENT', 'RELEASING_STOCK', 'VOIDING_PAYMENT', 'CANCELLING_SHIPMENT', 'DONE');
ALTER TABLE "orders" ALTER COLUMN "saga_step" TYPE "saga_step_new"
  USING (CASE "saga_step"::text WHEN 'REFUNDING_PAYMENT' THEN 'VOIDING_PAYMENT' ELSE "saga_step"::text END)::"saga_step_new";
ALTER TYPE "saga_step" RENAME TO "saga_step_old";
ALTER TYPE "saga_step_new" RENAME TO "saga_step";
DROP TYPE "public"."saga_step_old";

-- AlterTable
ALTER TABLE "orders" ADD COLUMN     "shipment" JSONB,
ADD COLUMN     "shipping_address" JSONB;
