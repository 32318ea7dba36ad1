// Tables that only grow (published outbox rows, processed-message records, a
// service's idempotency keys) are pruned here on a timer, a bounded chunk at a
// time so a long backlog never becomes one long-running DELETE. Every replica
// may prune at once: a row deleted twice is deleted once.
import type { Database } from './database.js';
import type { Logger } from './logging.js';

export interface RetentionRule {
  /** A table of the service's own schema (a constant of the code, never input). */
  table: string;
  /** The timestamp column that ages a row. */
  column: string;
  keepMs: number;
  /** Only rows matching this too are pruned (e.g. `published_at IS NOT NULL`). */
  where?: string;
}

/** The messaging tables every service with an outbox and consumers has. */
export function messagingRetention(env: {
  OUTBOX_RETENTION: number;
  PROCESSED_MESSAGES_RETENTION: number;
}): RetentionRule[] {
  return [
    { table: 'outbox', column: 'published_at', keepMs: env.OUTBOX_RETENTION },
    { table: 'processed_messages', column: 'processed_at', keepMs: env.PROCESSED_MESSAGES_RETENTION },
  ];
}

export class RetentionSweeper {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(
    private readonly database: Database,
    private readonly rules: readonly RetentionRule[],
    private readonly logger: Logger,
    private readonly options: { intervalMs?: number; chunk?: number } = {},
  ) {}

  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      this.#running = this.sweep().catch((err) => this.logger.warn({ err }, 'pruning old rows failed'));
      await this.#running;
      if (!this.#stopped) this.#timer = setTimeout(tick, this.options.intervalMs ?? 60_000);
    };
    this.#timer = setTimeout(tick, this.options.intervalMs ?? 60_000);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Deletes what every rule says is old, a chunk at a time; returns how many rows each table lost. */
  async sweep(): Promise<Record<string, number>> {
    const chunk = this.options.chunk ?? 5000;
    const deleted: Record<string, number> = {};
    for (const rule of this.rules) {
      let count = 0;
      for (;;) {
        const { rowCount } = await this.database.query(
          `DELETE FROM ${rule.table} WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM ${rule.table}
              WHERE ${rule.column} < now() - $1::interval ${rule.where ? `AND (${rule.where})` : ''}
              LIMIT $2))`,
          [`${Math.round(rule.keepMs)} milliseconds`, chunk],
        );
        count += rowCount ?? 0;
        if ((rowCount ?? 0) < chunk) break;
      }
      deleted[rule.table] = count;
    }
    const total = Object.values(deleted).reduce((a, b) => a + b, 0);
    if (total > 0) this.logger.info({ deleted }, 'pruned rows past their retention');
    return deleted;
  }
}
