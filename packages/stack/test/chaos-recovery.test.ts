import { describe, expect, it } from 'vitest';
import { consumerRecoveryOf } from '../src/chaos.js';

const kill = (atS: number, what: string, backAfterS: number) => ({
  atS,
  what: `kill -9 ${what}`,
  backAfterS,
});

describe("chaos: a killed consumer's recovery", () => {
  // From a real 5-minute run: the broker restarted at 90 s and answered again 2.4 s later.
  const kafka = { atS: 90, what: 'restart kafka', backAfterS: 2.4 };
  const events = [
    kill(76.8, 'inventory', 6.0),
    kill(81.1, 'orders', 5.7),
    kill(85.5, 'inventory', 13.1), // killed before the restart, ready after it
    kafka,
    kill(91.0, 'shipping', 7.6), // killed while the broker was down
    kill(94.9, 'orders', 5.8), // after the broker was back
    kill(98.0, 'users', 3.7), // not a consumer
  ];

  it('counts every kill of a consumer, and apart from them those no restart overlapped', () => {
    expect(consumerRecoveryOf(events, [kafka])).toEqual({
      n: 5,
      p50: 6.0,
      max: 13.1,
      apartFromRestarts: { n: 3, p50: 5.8, max: 6.0 },
    });
  });

  it('without restarts both figures are the same', () => {
    const r = consumerRecoveryOf(
      events.filter((e) => e !== kafka),
      [],
    );
    expect(r.apartFromRestarts).toEqual({ n: r.n, p50: r.p50, max: r.max });
  });
});
