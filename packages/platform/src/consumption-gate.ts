// Consumers follow the active color (docs/bluegreen-conventions.md). Under
// blue-green both colors' pods run side by side, and only the pods of the color
// the active Service selects may handle Kafka messages: the preview color answers
// HTTP (its probes pass, its preview Service serves tests) but leaves the topics
// alone until it is promoted, and a rollback hands them back. Outside Kubernetes
// (make dev, the tests, podman) nothing is gated and a service consumes from the
// start, as it always did.
//
// The decision is a pure function of the pod's color and the active one. The gate
// applies it: a fresh set of consumers is made and started when the pod becomes
// active (a stopped kafkajs consumer is not started again) and stopped when it no
// longer is. Both colors' consumers are in the same groups, so during a handover
// Kafka gives each partition to one member at a time, and the processed-message
// rows of the idempotent consumer make a redelivered message have no second effect.
//
// The gate also supervises what it started. A kafkajs consumer that crashed with
// an error kafkajs does not retry stays down, and one that stopped fetching
// without an error says nothing; either way the service would look alive and
// handle nothing until someone restarted it. Every few seconds the gate asks each
// running consumer whether it is failing (IdempotentConsumer.failure) and
// replaces one that is with a fresh consumer in the same group.
import { type BackoffPolicy, fullJitterDelay, sleep } from './backoff.js';
import { type Readiness, withTimeout } from './health.js';
import type { Logger } from './logging.js';

export type Color = 'blue' | 'green';

/**
 * Whether a pod of color `own` consumes while the active Service selects `active`
 * (null: the Service is gone or selects no color, as when the release is being removed).
 */
export function consumesWhileActive(own: Color, active: Color | null): boolean {
  return active === own;
}

/** What the gate starts and stops: an IdempotentConsumer, or anything shaped like one. */
export interface GatedConsumer {
  readonly groupId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  check(): Promise<unknown>;
  /** Why it should be replaced by a fresh one (crashed for good, stalled), or undefined. */
  failure?(): string | undefined;
}

/** Where a pod learns the active color (active-color.ts watches the active Service). */
export interface ActiveColorSource {
  /**
   * Calls `onActive` with the active color as soon as it is known and on every change,
   * until `stop`. Resolves once the first answer came, or after `firstAnswerMs` without
   * one (the caller goes on not consuming and is told later).
   */
  follow(onActive: (active: Color | null) => void, firstAnswerMs: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ConsumptionGateOptions {
  /** One entry per consumer group; `create` makes a new, unstarted consumer. */
  groups: { groupId: string; create: () => GatedConsumer }[];
  /** Starts one consumer (runtime.ts retries while the broker is starting). */
  start: (consumer: GatedConsumer) => Promise<void>;
  logger: Logger;
  readiness: Readiness;
  /** Absent: always consume. */
  follow?: {
    color: Color;
    source: ActiveColorSource;
    /**
     * Tells others (bluegreen status) whether this pod consumes, and that it is gone when it
     * stops; failures are only logged.
     */
    report?: (consuming: boolean | 'gone') => Promise<void>;
  };
  /** How long the start waits for the first answer about the active color. */
  firstAnswerMs?: number;
  /** Between attempts to start consumers that failed to start. */
  retryBackoff?: BackoffPolicy;
  /** How often running consumers are asked whether they are failing (ms; default 5000). */
  superviseEveryMs?: number;
  /** How long a failing consumer's stop may take before it is abandoned (ms; default 10 000). */
  abandonAfterMs?: number;
}

/** Starts and stops a service's consumers as its pod's color becomes active or stops being it. */
export class ConsumptionGate {
  readonly #options: ConsumptionGateOptions;
  readonly #log: Logger;
  #running: GatedConsumer[] | undefined;
  #wanted = false;
  #active: Color | null | undefined;
  #lastError: string | undefined;
  #stopped = false;
  // Transitions run one after the other, each towards whatever is wanted when it runs.
  #settling: Promise<void> = Promise.resolve();
  #retry: AbortController | undefined;
  #failedStarts = 0;
  #supervisor: NodeJS.Timeout | undefined;
  /** Consumers replaced because they failed, per group (shown in readiness). */
  readonly #replaced = new Map<string, number>();

  constructor(options: ConsumptionGateOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'consumption-gate' });
    for (const { groupId } of options.groups) {
      options.readiness.add(`consumer:${groupId}`, () => this.#check(groupId));
    }
  }

  /** Resolves once the consumers run (ungated, or active) or the pod knows it is not active. */
  async start(): Promise<void> {
    const follow = this.#options.follow;
    if (!follow) {
      await this.#want(true);
      return;
    }
    await follow.source.follow((active) => {
      const first = this.#active === undefined;
      this.#active = active;
      const consume = consumesWhileActive(follow.color, active);
      if (first || consume !== this.#wanted) {
        this.#log.info(
          { color: follow.color, activeColor: active },
          consume ? 'this color is active now: consuming' : 'this color is not active: not consuming',
        );
      }
      void this.#want(consume);
    }, this.#options.firstAnswerMs ?? 10_000);
    if (this.#active === undefined) {
      this.#log.warn({ color: follow.color }, 'the active color is not known yet; not consuming until it is');
    }
    await this.#settling;
    // A pod that starts out not consuming says so too (a transition reports it otherwise).
    if (!this.consuming) await this.#report(false);
  }

  /** Stops following, then stops the consumers after the messages in hand. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#retry?.abort();
    clearInterval(this.#supervisor);
    await this.#options.follow?.source.stop();
    await this.#want(false);
    await this.#report('gone');
  }

  get consuming(): boolean {
    return this.#running !== undefined;
  }

  #want(consume: boolean): Promise<void> {
    this.#wanted = consume && !this.#stopped;
    this.#settling = this.#settling.then(() => this.#settle());
    return this.#settling;
  }

  async #settle(): Promise<void> {
    if (this.#wanted && !this.#running) {
      const consumers = this.#options.groups.map((group) => group.create());
      this.#running = consumers;
      try {
        for (const consumer of consumers) await this.#options.start(consumer);
        this.#lastError = undefined;
        this.#failedStarts = 0;
        this.#log.info({ groups: consumers.map((c) => c.groupId) }, 'consumers started');
        this.#supervise();
        await this.#report(true);
      } catch (error) {
        await this.#startFailed(error, consumers, 'the consumers did not start; trying again');
      }
    } else if (!this.#wanted && this.#running) {
      const consumers = this.#running;
      this.#running = undefined;
      for (const consumer of consumers) {
        try {
          await consumer.stop();
        } catch (error) {
          this.#log.warn({ err: error, group: consumer.groupId }, 'a consumer did not stop cleanly');
        }
      }
      this.#log.info({ groups: consumers.map((c) => c.groupId) }, 'consumers stopped');
      await this.#report(false);
    }
  }

  #supervise(): void {
    if (this.#supervisor) return;
    this.#supervisor = setInterval(() => {
      for (const consumer of this.#running ?? []) {
        const reason = consumer.failure?.();
        if (!reason) continue;
        // A failed replacement must not break the chain every later transition waits on.
        this.#settling = this.#settling
          .then(() => this.#replace(consumer, reason))
          .catch((err: unknown) => this.#log.error({ err }, 'replacing a failing consumer failed'));
      }
    }, this.#options.superviseEveryMs ?? 5000);
    this.#supervisor.unref();
  }

  /** Swaps a failing consumer for a fresh one in the same group; the others go on. */
  async #replace(failing: GatedConsumer, reason: string): Promise<void> {
    const running = this.#running;
    const index = running?.indexOf(failing) ?? -1;
    if (!running || index < 0) return; // stopped or replaced meanwhile
    // #settle made running[i] from groups[i].
    const group = this.#options.groups[index]!;
    this.#replaced.set(group.groupId, (this.#replaced.get(group.groupId) ?? 0) + 1);
    this.#log.error({ group: group.groupId, reason }, 'a consumer is failing; replacing it with a fresh one');
    // A consumer stuck in its handler may never finish stopping: it is abandoned. What it still
    // handles later is recorded in processed_messages like anything else, so nothing happens twice.
    const abandonAfterMs = this.#options.abandonAfterMs ?? 10_000;
    const stopped = await withTimeout(
      failing.stop().catch(() => undefined),
      abandonAfterMs,
      'the failing consumer did not stop',
    ).then(
      () => true,
      () => false,
    );
    if (!stopped)
      this.#log.warn(
        { group: group.groupId, abandonAfterMs },
        'the failing consumer did not stop; abandoned',
      );
    const fresh = group.create();
    running[index] = fresh;
    try {
      await this.#options.start(fresh);
      this.#log.info({ group: group.groupId }, 'the replacement consumer started');
    } catch (error) {
      // As when the consumers did not start at all: every one is stopped, and all start again later.
      await this.#startFailed(error, running, 'the replacement consumer did not start; trying again');
    }
  }

  /** Stops every consumer of a start that failed (readiness names the error) and tries again later. */
  async #startFailed(error: unknown, consumers: GatedConsumer[], message: string): Promise<void> {
    this.#lastError = error instanceof Error ? error.message : String(error);
    this.#log.error({ err: error }, message);
    this.#running = undefined;
    await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
    this.#retryLater();
  }

  #retryLater(): void {
    const retry = new AbortController();
    this.#retry = retry;
    const policy = this.#options.retryBackoff ?? { baseMs: 1000, capMs: 10_000 };
    void sleep(fullJitterDelay(this.#failedStarts++, policy), retry.signal)
      .then(() => {
        if (this.#wanted && !this.#stopped) return this.#want(true);
      })
      .catch(() => undefined);
  }

  async #report(consuming: boolean | 'gone'): Promise<void> {
    try {
      await this.#options.follow?.report?.(consuming);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not report whether this pod consumes');
    }
  }

  async #check(groupId: string): Promise<unknown> {
    const consumer = this.#running?.[this.#options.groups.findIndex((g) => g.groupId === groupId)];
    if (consumer) {
      const replaced = this.#replaced.get(groupId);
      const detail = await consumer.check();
      return replaced ? { ...(detail as object), replacedAfterFailure: replaced } : detail;
    }
    const follow = this.#options.follow;
    if (this.#wanted || !follow) {
      throw new Error(
        `consumer ${groupId} is not running${this.#lastError ? `: ${this.#lastError}` : ' yet'}`,
      );
    }
    // Not consuming on purpose: the preview color is ready for HTTP all the same.
    return { group: groupId, consuming: false, color: follow.color, activeColor: this.#active ?? 'unknown' };
  }
}
