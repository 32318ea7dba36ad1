import { describe, expect, it } from 'vitest';
import { releaseStartupMemory } from '../src/startup-memory.js';

describe('releasing start-up memory', () => {
  it('collects once, later, and leaves no gc() behind for the process to call', async () => {
    const hadGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
    const before = process.memoryUsage().heapUsed;
    // Garbage the collection must take.
    let garbage: number[][] | undefined = Array.from({ length: 200 }, () =>
      Array.from({ length: 1000 }, Math.random),
    );
    garbage = undefined;
    releaseStartupMemory(10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(garbage).toBeUndefined();
    expect(typeof (globalThis as { gc?: unknown }).gc === 'function').toBe(hadGc);
    expect(process.memoryUsage().heapUsed).toBeLessThan(before + 1024 * 1024);
  });
});
