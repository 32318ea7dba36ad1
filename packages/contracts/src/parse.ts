// Parsing a raw Kafka value into a typed message, with a reason when it is not one.
import { z } from 'zod';
import { ENVELOPE_VERSION, envelopeBase } from './envelope.js';
import { isMessageType, type MessageData, type MessageType, messageData } from './messages.js';

export type Message<T extends MessageType = MessageType> = {
  [K in T]: Omit<z.infer<typeof envelopeBase>, 'type' | 'data'> & { type: K; data: MessageData<K> };
}[T];

export type ParseResult = { ok: true; message: Message } | { ok: false; reason: string };

export function parseMessage(raw: string | Buffer | null): ParseResult {
  if (raw === null) return { ok: false, reason: 'the message has no value' };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    return { ok: false, reason: 'the message value is not JSON' };
  }
  const envelope = envelopeBase.safeParse(json);
  if (!envelope.success) {
    const version = (json as { version?: unknown } | null)?.version;
    if (version !== undefined && version !== ENVELOPE_VERSION) {
      return { ok: false, reason: `unsupported envelope version ${JSON.stringify(version)}` };
    }
    return { ok: false, reason: `invalid envelope: ${z.prettifyError(envelope.error)}` };
  }
  const { type } = envelope.data;
  if (!isMessageType(type)) return { ok: false, reason: `unknown message type ${type}` };
  const data = messageData[type].safeParse(envelope.data.data);
  if (!data.success) return { ok: false, reason: `invalid ${type} data: ${z.prettifyError(data.error)}` };
  return { ok: true, message: { ...envelope.data, type, data: data.data } as Message };
}
