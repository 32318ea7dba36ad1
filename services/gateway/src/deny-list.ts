// Users deleted within the last access-token lifetime. Their tokens still
// verify (they are valid until they expire), so the gateway refuses them by id.
// An entry is only needed until every token issued before the deletion has
// expired: deletion time + token lifetime.
export class DenyList {
  readonly #until = new Map<string, number>();
  #nextSweep = 0;

  constructor(
    /** Token lifetime plus clock-skew allowance. */
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a deletion; returns false when it is too old to matter. */
  add(userId: string, deletedAt: number): boolean {
    const until = deletedAt + this.retentionMs;
    const now = this.now();
    if (until <= now) return false;
    this.#until.set(userId, Math.max(until, this.#until.get(userId) ?? 0));
    if (now >= this.#nextSweep) this.#sweep(now);
    return true;
  }

  has(userId: string): boolean {
    const until = this.#until.get(userId);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#until.delete(userId);
    return false;
  }

  get size(): number {
    return this.#until.size;
  }

  #sweep(now: number): void {
    for (const [userId, until] of this.#until) if (until <= now) this.#until.delete(userId);
    this.#nextSweep = now + 60_000;
  }
}
