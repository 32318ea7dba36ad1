-- AlterTable
ALTER TABLE "notifications" ADD COLUMN     "email_to" TEXT,
ADD COLUMN     "send_lease" TIMESTAMPTZ(3),
ADD COLUMN     "sent_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "notifications_send_lease_idx" ON "notifications"("send_lease");

-- CreateIndex
CREATE INDEX "processed_messages_processed_at_idx" ON "processed_messages"("processed_at");

