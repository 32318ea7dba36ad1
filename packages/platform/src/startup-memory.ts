// Once a service is up, one full collection gives back what starting it took:
// the garbage of loading and compiling its modules, parsing its config and
// connecting, and the young generation the heap grew into meanwhile (about
// 30 MiB of an idle service's 130, measured in `make bench`). An idle process
// then holds what it uses. Idle processes are common here: blue-green keeps
// the other color of every service running, idle, for a rollback. Under load
// V8 grows the heap again as it needs; only this one collection is forced.
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** Collects everything collectable `delayMs` after the call (the process may exit before: it does not wait). */
export function releaseStartupMemory(delayMs = 5000): void {
  setTimeout(() => {
    // The gc() V8 exposes with --expose-gc, taken without the flag on the command line.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as Gc;
    v8.setFlagsFromString('--no-expose-gc');
    // "last-resort": compact, and shrink the young generation too.
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  }, delayMs).unref();
}
