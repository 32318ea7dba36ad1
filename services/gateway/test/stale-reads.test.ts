import { describe, expect, it } from 'vitest';
import { StaleReads, staleCacheStatus } from '../src/stale-reads.js';

const answer = (body: string, status = 200) => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(body),
});

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('stale reads', () => {
  it('serves a stored answer with its age, until it is older than the maximum staleness', () => {
    const time = clock();
    const reads = new StaleReads({ maxStaleMs: 60_000, now: time.now });
    reads.remember('/api/v1/products/a', answer('{"id":"a"}'));
    time.advance(1500);
    expect(reads.recall('/api/v1/products/a')).toMatchObject({ ageSeconds: 1, status: 200 });
    expect(reads.recall('/api/v1/products/a')?.body.toString()).toBe('{"id":"a"}');
    time.advance(58_500);
    expect(reads.recall('/api/v1/products/a')?.ageSeconds).toBe(60);
    time.advance(1);
    expect(reads.recall('/api/v1/products/a')).toBeUndefined();
    expect(reads.size).toBe(0);
    expect(reads.bytes).toBe(0);
  });

  it('keeps only successful answers, and a newer answer replaces an older one', () => {
    const time = clock();
    const reads = new StaleReads({ maxStaleMs: 60_000, now: time.now });
    reads.remember('/p/missing', answer('{"status":404}', 404));
    reads.remember('/p/a', answer('{"v":1}'));
    time.advance(10_000);
    reads.remember('/p/a', answer('{"v":2}'));
    expect(reads.recall('/p/missing')).toBeUndefined();
    expect(reads.recall('/p/a')).toMatchObject({ ageSeconds: 0 });
    expect(reads.recall('/p/a')?.body.toString()).toBe('{"v":2}');
    expect(reads.bytes).toBe(7);
  });

  it('is bounded in entries: the least recently stored go first', () => {
    const reads = new StaleReads({ maxStaleMs: 60_000, maxEntries: 2 });
    reads.remember('/a', answer('a'));
    reads.remember('/b', answer('b'));
    reads.remember('/a', answer('a2')); // stored again: now the most recent
    reads.remember('/c', answer('c'));
    expect(reads.recall('/b')).toBeUndefined();
    expect(reads.recall('/a')?.body.toString()).toBe('a2');
    expect(reads.recall('/c')).toBeDefined();
    expect(reads.size).toBe(2);
  });

  it('is bounded in bytes, and does not keep a body larger than an eighth of them', () => {
    const reads = new StaleReads({ maxStaleMs: 60_000, maxBytes: 80 });
    expect(reads.accepts(10)).toBe(true);
    expect(reads.accepts(11)).toBe(false);
    reads.remember('/big', answer('x'.repeat(11)));
    expect(reads.recall('/big')).toBeUndefined();
    for (let i = 0; i < 9; i++) reads.remember(`/${i}`, answer('y'.repeat(10)));
    expect(reads.bytes).toBe(80);
    expect(reads.recall('/0')).toBeUndefined();
    expect(reads.recall('/8')).toBeDefined();
  });

  it('says the answer is a stale hit, how stale, and why (RFC 9211)', () => {
    const time = clock();
    const reads = new StaleReads({ maxStaleMs: 60_000, now: time.now });
    reads.remember('/a', answer('a'));
    time.advance(42_000);
    const stale = reads.recall('/a')!;
    expect(staleCacheStatus(stale, 'inventory unreachable')).toBe(
      'shop-gateway; hit; ttl=-42; detail="inventory unreachable"',
    );
    expect(staleCacheStatus(stale, 'inventory answered 503', 503)).toBe(
      'shop-gateway; hit; ttl=-42; fwd-status=503; detail="inventory answered 503"',
    );
  });
});
