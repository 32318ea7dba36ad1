// What the card provider answered, reduced to what the payment decisions need.
// The provider client (src/provider/client.ts) turns HTTP answers into these, so
// the decisions never see status codes, and tests can state outcomes directly.

export type ProviderAuthorizationStatus = 'authorized' | 'captured' | 'voided' | 'refunded';

export interface ProviderAuthorization {
  id: string;
  status: ProviderAuthorizationStatus;
}

/** No answer that can be trusted: a timeout, a network error, 5xx after retries, an open breaker, a surprise. */
export interface Unavailable {
  kind: 'unavailable';
  reason: string;
}

export type AuthorizationOutcome =
  | { kind: 'approved'; authorization: ProviderAuthorization }
  | { kind: 'declined'; code: string }
  | Unavailable;

/** Capture, void or refund of one authorization. */
export type OperationOutcome =
  | { kind: 'done'; authorization: ProviderAuthorization }
  /** The provider understood and said no: the authorization is in another state (409) or unknown to it (404). */
  | { kind: 'refused'; code: string }
  | Unavailable;

export type LookupOutcome = { kind: 'found'; authorizations: ProviderAuthorization[] } | Unavailable;

export type ProviderOperation = 'authorize' | 'capture' | 'void' | 'refund';

/**
 * One key per order and operation: a retried attempt, a redelivered command or
 * a command the saga sends again all reuse it, so the provider answers them with
 * its first answer instead of charging, capturing or refunding twice.
 */
export const idempotencyKey = (orderId: string, operation: ProviderOperation) => `${orderId}:${operation}`;
