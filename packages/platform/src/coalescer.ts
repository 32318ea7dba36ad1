// Work submitted by several callers in the same turn of the event loop, run as
// one. kafkajs hands each partition of a fetch to its own eachBatch call, all
// within one turn; a consumer gathers them here so that what one fetch brought
// from every partition is handled in one transaction (one BEGIN, one COMMIT,
// one WAL flush) rather than one per partition. At moderate rates most
// partitions bring one message per fetch, so this is what makes the batches
// batches.

/** Splits `submissions` into runs of consecutive ones with at most `maxItems` items each (a bigger one alone). */
export function groupsOf<S extends { items: readonly unknown[] }>(
  submissions: readonly S[],
  maxItems: number,
): S[][] {
  const groups: S[][] = [];
  let current: S[] = [];
  let size = 0;
  for (const submission of submissions) {
    if (current.length > 0 && size + submission.items.length > maxItems) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(submission);
    size += submission.items.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

interface Submission<T, R> {
  items: readonly T[];
  resolve: (results: R[] | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the items submitted in one turn of the event loop and runs them together, in groups of
 * at most `maxItems` (each caller's items stay in one group, in submission order). `run` returns
 * one result per item, or undefined when the group is to be handled otherwise (each caller then
 * falls back on its own); a throw reaches every caller of the group.
 */
export class Coalescer<T, R> {
  #pending: Submission<T, R>[] = [];
  #scheduled = false;

  constructor(
    private readonly run: (items: T[]) => Promise<R[] | undefined>,
    private readonly maxItems: number,
  ) {}

  submit(items: readonly T[]): Promise<R[] | undefined> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ items, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // setImmediate: after every eachBatch kafkajs started for this fetch has reached here.
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (const group of groupsOf(pending, this.maxItems)) void this.#runGroup(group);
  }

  async #runGroup(group: Submission<T, R>[]): Promise<void> {
    try {
      const results = await this.run(group.flatMap((submission) => submission.items));
      let at = 0;
      for (const submission of group) {
        submission.resolve(results?.slice(at, at + submission.items.length));
        at += submission.items.length;
      }
    } catch (error) {
      for (const submission of group) submission.reject(error);
    }
  }
}
