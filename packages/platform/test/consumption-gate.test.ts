// The consumption gate's decisions and transitions, driven by a hand-fed source of
// active colors (the real source, the active Service on a real API server, is
// proven in deploy/node/test). Consumers here are plain objects that log their calls.
import {
  type ActiveColorSource,
  type Color,
  ConsumptionGate,
  consumesWhileActive,
  Readiness,
} from '@shop/platform';
import { testLogger } from '@shop/testkit';
import { describe, expect, it } from 'vitest';

describe('consumesWhileActive', () => {
  it('consumes only while the active Service selects the pod’s own color', () => {
    expect(consumesWhileActive('blue', 'blue')).toBe(true);
    expect(consumesWhileActive('green', 'green')).toBe(true);
    expect(consumesWhileActive('blue', 'green')).toBe(false);
    expect(consumesWhileActive('green', 'blue')).toBe(false);
    // The active Service is gone or selects no color: nobody consumes.
    expect(consumesWhileActive('blue', null)).toBe(false);
  });
});

class HandFedSource implements ActiveColorSource {
  #onActive: ((active: Color | null) => void) | undefined;
  stopped = false;
  constructor(private readonly first: Color | null | undefined) {}
  async follow(onActive: (active: Color | null) => void): Promise<void> {
    this.#onActive = onActive;
    if (this.first !== undefined) onActive(this.first);
  }
  set(active: Color | null): void {
    this.#onActive?.(active);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

function harness(
  options: {
    color?: Color;
    first?: Color | null;
    failStarts?: number;
    /** What failure() of the consumer made id-th says (undefined: fine). */
    failing?: (id: number) => string | undefined;
    /** Whether the id-th consumer's stop never finishes. */
    hangsOnStop?: (id: number) => boolean;
  } = {},
) {
  const calls: string[] = [];
  const reports: (boolean | 'gone')[] = [];
  let made = 0;
  let failures = options.failStarts ?? 0;
  const readiness = new Readiness();
  const source = new HandFedSource(options.first);
  const gate = new ConsumptionGate({
    groups: [
      {
        groupId: 'orders',
        create: () => {
          const id = ++made;
          return {
            groupId: 'orders',
            start: async () => {
              calls.push(`start ${id}`);
              if (failures-- > 0) throw new Error('broker unreachable');
            },
            stop: async () => {
              calls.push(`stop ${id}`);
              if (options.hangsOnStop?.(id)) await new Promise(() => undefined);
            },
            check: async () => ({ group: 'orders', instance: id }),
            failure: () => options.failing?.(id),
          };
        },
      },
    ],
    start: (consumer) => consumer.start(),
    logger: testLogger(),
    readiness,
    ...(options.color
      ? {
          follow: {
            color: options.color,
            source,
            report: async (c: boolean | 'gone') => void reports.push(c),
          },
        }
      : {}),
    firstAnswerMs: 50,
    retryBackoff: { baseMs: 20, capMs: 50 },
    superviseEveryMs: 20,
    abandonAfterMs: 100,
  });
  const settled = async () => {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { gate, source, calls, reports, readiness, settled };
}

describe('ConsumptionGate', () => {
  it('without blue-green, consumes from the start and stops once', async () => {
    const { gate, calls, readiness } = harness();
    await gate.start();
    expect(calls).toEqual(['start 1']);
    expect((await readiness.report()).checks['consumer:orders']).toMatchObject({ status: 'up', instance: 1 });
    await gate.stop();
    expect(calls).toEqual(['start 1', 'stop 1']);
  });

  it('a preview pod is ready but starts no consumer; promoted, it starts one; rolled back, it stops it', async () => {
    const { gate, source, calls, reports, readiness, settled } = harness({ color: 'green', first: 'blue' });
    await gate.start();
    expect(calls).toEqual([]);
    expect(gate.consuming).toBe(false);
    const preview = await readiness.report();
    expect(preview.status).toBe('ready');
    expect(preview.checks['consumer:orders']).toMatchObject({
      status: 'up',
      consuming: false,
      activeColor: 'blue',
    });

    source.set('green');
    await settled();
    expect(calls).toEqual(['start 1']);
    expect(gate.consuming).toBe(true);

    source.set('blue');
    await settled();
    // A new instance on every activation: kafkajs consumers are not restarted.
    source.set('green');
    await settled();
    expect(calls).toEqual(['start 1', 'stop 1', 'start 2']);
    // It said it did not consume from the start, then each transition.
    expect(reports).toEqual([false, true, false, true]);

    await gate.stop();
    expect(source.stopped).toBe(true);
    expect(calls).toEqual(['start 1', 'stop 1', 'start 2', 'stop 2']);
    expect(reports).toEqual([false, true, false, true, false, 'gone']);
  });

  it('an active pod consumes once the start resolves; a deleted active Service stops it', async () => {
    const { gate, source, calls, settled } = harness({ color: 'blue', first: 'blue' });
    await gate.start();
    expect(calls).toEqual(['start 1']);
    source.set(null);
    await settled();
    expect(calls).toEqual(['start 1', 'stop 1']);
    await gate.stop();
  });

  it('does not consume while the active color is unknown, and starts when it is told', async () => {
    const { gate, source, calls, settled } = harness({ color: 'blue', first: undefined });
    await gate.start();
    expect(calls).toEqual([]);
    source.set('blue');
    await settled();
    expect(calls).toEqual(['start 1']);
    await gate.stop();
  });

  it('flapping colors settle on the last one, never two consumers at once', async () => {
    const { gate, source, calls, settled } = harness({ color: 'blue', first: 'green' });
    await gate.start();
    for (const color of ['blue', 'green', 'blue', 'green', 'blue'] as const) source.set(color);
    await settled();
    expect(gate.consuming).toBe(true);
    let running = 0;
    for (const call of calls) {
      running += call.startsWith('start') ? 1 : -1;
      expect(running).toBeLessThanOrEqual(1);
    }
    expect(running).toBe(1);
    await gate.stop();
  });

  it('a consumer that cannot start makes the active pod not ready and is tried again', async () => {
    const { gate, calls, readiness } = harness({ color: 'blue', first: 'blue', failStarts: 1 });
    await gate.start();
    expect(calls).toEqual(['start 1', 'stop 1']);
    const report = await readiness.report();
    expect(report.status).toBe('not-ready');
    expect(report.checks['consumer:orders']?.error).toContain('broker unreachable');
    await expect.poll(() => calls, { timeout: 4000, interval: 20 }).toEqual(['start 1', 'stop 1', 'start 2']);
    expect((await readiness.report()).status).toBe('ready');
    await gate.stop();
  });

  it('replaces a running consumer that says it is failing with a fresh one, and says so in readiness', async () => {
    const { gate, calls, readiness } = harness({
      failing: (id) => (id === 1 ? 'stalled: no fetch, batch or heartbeat for 31 s' : undefined),
    });
    await gate.start();
    await expect.poll(() => calls, { timeout: 4000, interval: 20 }).toEqual(['start 1', 'stop 1', 'start 2']);
    const report = await readiness.report();
    expect(report.status).toBe('ready');
    expect(report.checks['consumer:orders']).toMatchObject({
      status: 'up',
      instance: 2,
      replacedAfterFailure: 1,
    });
    // The fresh one is fine: nothing more happens to it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls).toEqual(['start 1', 'stop 1', 'start 2']);
    await gate.stop();
    expect(calls).toEqual(['start 1', 'stop 1', 'start 2', 'stop 2']);
  });

  it('abandons a failing consumer whose stop never finishes, and starts the fresh one all the same', async () => {
    const { gate, calls } = harness({
      failing: (id) => (id === 1 ? 'crashed and not restarted by kafkajs: boom' : undefined),
      hangsOnStop: (id) => id === 1,
    });
    await gate.start();
    await expect.poll(() => calls, { timeout: 4000, interval: 20 }).toEqual(['start 1', 'stop 1', 'start 2']);
    await gate.stop();
    expect(calls).toEqual(['start 1', 'stop 1', 'start 2', 'stop 2']);
  });

  it('does not supervise a preview pod that does not consume', async () => {
    const { gate, calls } = harness({ color: 'green', first: 'blue', failing: () => 'stalled' });
    await gate.start();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(calls).toEqual([]);
    await gate.stop();
  });
});
