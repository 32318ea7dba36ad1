// The one envelope every Kafka message travels in. `key` is the aggregate id and
// doubles as the Kafka key, so every message about one order lands on one
// partition, in order. `traceparent` carries the W3C trace context across the
// outbox, where no HTTP or Kafka instrumentation can see the causal link.
import { z } from 'zod';

export const ENVELOPE_VERSION = 1;

export const envelopeBase = z.object({
  id: z.uuid(),
  type: z.string().min(1),
  version: z.literal(ENVELOPE_VERSION),
  source: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  key: z.string().min(1),
  traceparent: z
    .string()
    .regex(/^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/)
    .nullable(),
  data: z.unknown(),
});

/** Parses only the envelope, leaving `data` for the schema of its `type`. */
export type EnvelopeBase = z.infer<typeof envelopeBase>;

/** The envelope schema of one message type. */
export function envelopeOf<const T extends string, D extends z.ZodType>(type: T, data: D) {
  return envelopeBase.extend({ type: z.literal(type), data });
}
