// Clients learn an order's outcome without polling: a request that waits for
// an order (long-poll with `Prefer: wait`, or the order's event stream) parks
// here until the saga's transaction that finishes the order commits. That
// transaction NOTIFYs the order id on ORDER_STATUS_CHANNEL; one LISTEN
// connection per process wakes the waiters of that order, whichever replica ran
// the saga. A lost connection wakes every waiter, so each re-reads the order
// rather than missing its change; nothing depends on a notification arriving.
import type { Logger } from '@shop/platform';
import pg from 'pg';

export const ORDER_STATUS_CHANNEL = 'order_status';

export class OrderWatch {
  readonly #waiters = new Map<string, Set<() => void>>();
  #listener: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly logger: Logger,
  ) {}

  /**
   * Starts watching an order. Subscribe before reading the order, then await `changed`: a change
   * committed between the read and the wait is not missed. `changed` resolves on the order's
   * notification or a lost connection (the caller re-reads either way); `cancel` stops watching.
   */
  async subscribe(orderId: string): Promise<{ changed: Promise<void>; cancel: () => void }> {
    await this.#listen();
    if (this.#closed) return { changed: Promise.resolve(), cancel: () => undefined };
    let cancel: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => {
      const waiters = this.#waiters.get(orderId) ?? new Set();
      this.#waiters.set(orderId, waiters);
      const done = () => {
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(orderId) === waiters) this.#waiters.delete(orderId);
        resolve();
      };
      waiters.add(done);
      cancel = done;
    });
    return { changed, cancel };
  }

  /** Waiters right now, for tests and metrics. */
  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeAll();
    await this.#listener?.end().catch(() => undefined);
    this.#listener = undefined;
  }

  #wake(orderId: string): void {
    for (const done of [...(this.#waiters.get(orderId) ?? [])]) done();
  }

  #wakeAll(): void {
    for (const orderId of [...this.#waiters.keys()]) this.#wake(orderId);
  }

  #listen(): Promise<void> {
    if (this.#listener || this.#closed) return Promise.resolve();
    this.#connecting ??= (async () => {
      const listener = new pg.Client(this.connection);
      listener.on('notification', (n) => {
        if (n.payload) this.#wake(n.payload);
      });
      listener.on('error', (err) => {
        this.logger.warn({ err }, 'order watch lost its LISTEN connection; waiters re-read their order');
        if (this.#listener === listener) this.#listener = undefined;
        this.#wakeAll();
      });
      try {
        await listener.connect();
        await listener.query(`LISTEN ${ORDER_STATUS_CHANNEL}`);
        this.#listener = listener;
      } catch (err) {
        await listener.end().catch(() => undefined);
        throw err;
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }
}
