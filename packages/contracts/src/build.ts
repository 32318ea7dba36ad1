// Building a message validates its data, so an invalid message is caught where
// it is made, not by every consumer downstream.
import { randomUUID } from 'node:crypto';
import { ENVELOPE_VERSION } from './envelope.js';
import { type MessageData, type MessageType, messageData } from './messages.js';
import type { Message } from './parse.js';

export interface MessageOrigin {
  /** The service that emits the message. */
  source: string;
  /** The W3C traceparent of the work that caused it, if any. */
  traceparent?: string | null;
  /** Defaults to a fresh UUID; pass one to make the message id deterministic. */
  id?: string;
  time?: Date;
}

export function buildMessage<T extends MessageType>(
  type: T,
  key: string,
  data: MessageData<T>,
  origin: MessageOrigin,
): Message<T> {
  const parsed = messageData[type].parse(data) as MessageData<T>;
  return {
    id: origin.id ?? randomUUID(),
    type,
    version: ENVELOPE_VERSION,
    source: origin.source,
    time: (origin.time ?? new Date()).toISOString(),
    key,
    traceparent: origin.traceparent ?? null,
    data: parsed,
  } as Message<T>;
}
