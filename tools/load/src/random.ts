// A seeded source of randomness, so a run's mix of traffic can be repeated.
// mulberry32: small, fast and good enough for picking requests (not for secrets).

export type Random = () => number;

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One of `items`, uniformly. */
export function pick<T>(items: readonly T[], random: Random): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(random() * items.length)]!;
}

/** A whole number in [min, max]. */
export function between(min: number, max: number, random: Random): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** One key of `weights`, with probability proportional to its weight. */
export function pickWeighted<K>(weights: readonly (readonly [K, number])[], random: Random): K {
  const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
  let point = random() * total;
  for (const [key, weight] of weights) {
    if (point < weight) return key;
    point -= weight;
  }
  // Floating-point rounding can leave `point` a hair above the last weight.
  return weights.findLast(([, weight]) => weight > 0)![0];
}
