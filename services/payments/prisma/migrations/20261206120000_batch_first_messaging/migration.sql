-- AlterTable
ALTER TABLE "payments" ADD COLUMN     "lease_until" TIMESTAMPTZ(3),
ADD COLUMN     "pending_data" JSONB,
ADD COLUMN     "pending_operation_id" UUID,
ADD COLUMN     "pending_traceparent" TEXT;

-- CreateIndex
CREATE INDEX "payments_lease_until_idx" ON "payments"("lease_until");

-- CreateIndex
CREATE INDEX "processed_messages_processed_at_idx" ON "processed_messages"("processed_at");


-- A pending operation is whole: its id, its call and its lease come and go together.
ALTER TABLE "payments" ADD CONSTRAINT "payments_pending_check" CHECK (
  ("pending_operation_id" IS NULL) = ("pending_data" IS NULL)
  AND ("pending_operation_id" IS NULL) = ("lease_until" IS NULL)
);
