-- The relay reads, for the keys it claimed, their first pending row it did not get
-- (packages/platform/src/outbox.ts). Indexing only the pending rows keeps that one short
-- range per key, and keeps the planner from preferring a scan of every pending row when
-- the statistics are stale (they are taken when the queue is empty). Prisma's schema
-- cannot say WHERE (messaging.prisma still declares @@index([key, id])); the index keeps
-- its name and columns, so the schema and the database agree on them.
DROP INDEX IF EXISTS "outbox_key_id_idx";
CREATE INDEX "outbox_key_id_idx" ON "outbox"("key", "id") WHERE "published_at" IS NULL;
