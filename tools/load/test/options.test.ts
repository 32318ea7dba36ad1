import { describe, expect, it } from 'vitest';
import {
  arrivalRates,
  loadOptions,
  parseDuration,
  parseLoadArgs,
  parseWeights,
  UsageError,
} from '../src/options.js';

const options = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseLoadArgs(argv, env);
  if (parsed.help) throw new Error('expected options, got --help');
  return parsed.options;
};

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2', 2000],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text, 'duration')).toBe(ms));

  it.each(['', 'soon', '5 m', '5mm', '-3s'])('rejects %j with the flag named', (text) => {
    expect(() => parseDuration(text, 'duration')).toThrow(/--duration/);
  });
});

describe('parseWeights', () => {
  it('gives names left out a weight of 0', () => {
    expect(Object.fromEntries(parseWeights('a=2', ['a', 'b'] as const, 'mix'))).toEqual({ a: 2, b: 0 });
  });
  it('rejects unknown names and listing the known ones', () => {
    expect(() => parseWeights('c=1', ['a', 'b'] as const, 'mix')).toThrow(/unknown "c"; known: a, b/);
  });
  it('rejects what is not name=number', () => {
    expect(() => parseWeights('a=x', ['a'] as const, 'mix')).toThrow(UsageError);
  });
});

describe('parseLoadArgs', () => {
  it('answers --help', () => {
    expect(parseLoadArgs(['--help'])).toEqual({ help: true });
  });

  it('reads flags before the environment, the environment before the defaults', () => {
    const fromEnv = options([], { LOAD_RATE: '7', LOAD_BASE_URL: 'http://127.0.0.1:9999/' });
    expect(fromEnv.ordersPerSecond).toBe(7);
    expect(fromEnv.baseUrl).toBe('http://127.0.0.1:9999');
    expect(options(['--rate', '3'], { LOAD_RATE: '7' }).ordersPerSecond).toBe(3);
    expect(options([]).durationMs).toBe(60_000);
  });

  it('normalises the order mix to shares of the rate', () => {
    const o = options(['--order-mix', 'visa=3,decline=1']);
    expect(o.orderMix.get('visa')).toBe(0.75);
    expect(o.orderMix.get('decline')).toBe(0.25);
    expect(o.orderMix.get('timeout')).toBe(0);
  });

  it('sizes the customers to the rate unless told', () => {
    expect(options(['--rate', '20']).customers).toBe(100);
    expect(options(['--rate', '20', '--customers', '7']).customers).toBe(7);
    expect(loadOptions({ baseUrl: 'http://127.0.0.1:1', ordersPerSecond: 4 }).customers).toBe(20);
  });

  it.each([
    [['--rate', '0'], /--rate must be above 0/],
    [['--rate', 'fast'], /--rate/],
    [['--output', 'xml'], /--output must be text or json/],
    [['--base-url', 'http://127.0.0.1:8080/api'], /not an origin/],
    [['--order-mix', 'visa=0'], /at least one kind/],
    [['--connections', '1.5'], /whole number/],
    [['--nope'], /nope/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseLoadArgs(argv as string[])).toThrow(message);
  });
});

describe('arrivalRates', () => {
  it('splits the order rate by the order mix and scales the rest per order', () => {
    const rates = Object.fromEntries(
      arrivalRates(options(['--rate', '10', '--order-mix', 'visa=1', '--mix', 'browse=2,login=0'])),
    );
    expect(rates).toEqual({ visa: 10, browse: 20 });
  });
});
