// Readable, prefixed logs for `make dev`: each service's pino JSON lines are
// pretty-printed by pino-pretty and prefixed with the service's name, so six
// services can share one terminal.
import { Writable } from 'node:stream';
import { blue, cyan, green, isColorSupported, magenta, red, yellow } from 'colorette';
import { build } from 'pino-pretty';
import type { ServiceName } from './services.js';

const palette = [cyan, green, yellow, blue, magenta, red];

export function prettyPrinter(names: readonly ServiceName[], out: NodeJS.WritableStream = process.stdout) {
  const width = Math.max(...names.map((name) => name.length));
  return (name: ServiceName) => {
    const color = palette[names.indexOf(name) % palette.length] ?? cyan;
    const prefix = `${isColorSupported ? color(name.padEnd(width)) : name.padEnd(width)} │ `;
    let pending = '';
    const prefixed = new Writable({
      write(chunk, _encoding, done) {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) out.write(`${prefix}${line}\n`);
        done();
      },
    });
    return build({
      destination: prefixed,
      colorize: isColorSupported,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service,name',
      singleLine: true,
      sync: true,
    });
  };
}
