// Visible progress on stderr (stdout stays for the result): in a terminal a live
// list of the planned steps with spinners and elapsed times; otherwise plain
// timestamped lines that read well in CI logs and that tests can wait for.
import { formatDuration } from './duration.js';

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

interface Row {
  id: string;
  title: string;
  status: StepStatus;
  detail: string | undefined;
  startedAt: number | undefined;
  endedAt: number | undefined;
}

export interface Reporter {
  /** Announce the steps to come (a terminal shows them all at once, pending). */
  plan(steps: { id: string; title: string }[]): void;
  start(id: string, title?: string): void;
  update(id: string, detail: string): void;
  finish(id: string, status: Exclude<StepStatus, 'pending' | 'running'>, detail?: string): void;
  info(message: string): void;
  warn(message: string): void;
  /** Marks steps that never ran as skipped and stops redrawing. */
  close(): void;
}

abstract class BaseReporter implements Reporter {
  protected rows: Row[] = [];

  protected row(id: string, title?: string): Row {
    let row = this.rows.find((r) => r.id === id);
    if (!row) {
      row = {
        id,
        title: title ?? id,
        status: 'pending',
        detail: undefined,
        startedAt: undefined,
        endedAt: undefined,
      };
      this.rows.push(row);
    } else if (title) row.title = title;
    return row;
  }

  plan(steps: { id: string; title: string }[]): void {
    for (const s of steps) this.row(s.id, s.title);
    this.planned();
  }

  start(id: string, title?: string): void {
    const row = this.row(id, title);
    row.status = 'running';
    row.startedAt = Date.now();
    row.detail = undefined;
    this.started(row);
  }

  update(id: string, detail: string): void {
    const row = this.row(id);
    if (row.detail === detail) return;
    row.detail = detail;
    this.updated(row);
  }

  finish(id: string, status: Exclude<StepStatus, 'pending' | 'running'>, detail?: string): void {
    const row = this.row(id);
    row.status = status;
    row.endedAt = Date.now();
    if (detail !== undefined) row.detail = detail;
    this.finished(row);
  }

  close(): void {
    for (const row of this.rows) {
      if (row.status === 'pending') row.status = 'skipped';
    }
    this.closed();
  }

  abstract info(message: string): void;
  abstract warn(message: string): void;
  protected abstract planned(): void;
  protected abstract started(row: Row): void;
  protected abstract updated(row: Row): void;
  protected abstract finished(row: Row): void;
  protected abstract closed(): void;
}

function elapsed(row: Row): string {
  if (row.startedAt === undefined) return '';
  return formatDuration((row.endedAt ?? Date.now()) - row.startedAt);
}

/** Timestamped lines, one per event: for CI logs, pipes and tests. */
export class PlainReporter extends BaseReporter {
  private lastUpdate = new Map<string, number>();

  constructor(private readonly out: NodeJS.WritableStream = process.stderr) {
    super();
  }

  private line(kind: string, text: string): void {
    this.out.write(`${new Date().toISOString()} ${kind.padEnd(5)} ${text}\n`);
  }

  protected planned(): void {
    this.line('plan', this.rows.map((r, i) => `${i + 1}. ${r.title}`).join('  '));
  }
  protected started(row: Row): void {
    this.line('start', row.title);
  }
  protected updated(row: Row): void {
    // Watches can fire many times a second: one line per second per step is plenty.
    const now = Date.now();
    if (now - (this.lastUpdate.get(row.id) ?? 0) < 1000) return;
    this.lastUpdate.set(row.id, now);
    this.line('...', `${row.title}: ${row.detail}`);
  }
  protected finished(row: Row): void {
    const kind = row.status === 'done' ? 'done' : row.status === 'failed' ? 'FAIL' : 'skip';
    this.line(kind, `${row.title} (${elapsed(row)})${row.detail ? `: ${row.detail}` : ''}`);
  }
  protected closed(): void {}
  info(message: string): void {
    this.line('info', message);
  }
  warn(message: string): void {
    this.line('WARN', message);
  }
}

/** Select Graphic Rendition (colors, dim): ESC [ ... m. */
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SYMBOL: Record<StepStatus, string> = {
  pending: '\x1b[2m○\x1b[0m',
  running: '',
  done: '\x1b[32m✔\x1b[0m',
  failed: '\x1b[31m✖\x1b[0m',
  skipped: '\x1b[2m-\x1b[0m',
};

/** A live list redrawn in place, like kubectl argo rollouts get --watch or listr. */
export class TtyReporter extends BaseReporter {
  private drawnLines = 0;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  /** NO_COLOR (https://no-color.org): keep the live list, drop the colors. */
  private readonly color = !process.env.NO_COLOR;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    super();
  }

  private write(text: string): void {
    this.out.write(this.color ? text : text.replace(SGR, ''));
  }

  private render(): void {
    const width = Math.max(40, (this.out.columns ?? 100) - 1);
    const lines = this.rows.map((row) => {
      const symbol =
        row.status === 'running'
          ? `\x1b[36m${SPINNER[this.frame % SPINNER.length]}\x1b[0m`
          : SYMBOL[row.status];
      const time = row.startedAt !== undefined ? ` \x1b[2m${elapsed(row)}\x1b[0m` : '';
      const title =
        row.status === 'pending' || row.status === 'skipped' ? `\x1b[2m${row.title}\x1b[0m` : row.title;
      const detail = row.detail ? ` \x1b[2m${row.detail}\x1b[0m` : '';
      return truncate(` ${symbol} ${title}${time}${detail}`, width);
    });
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const line of lines) text += `\x1b[2K${line}\n`;
    this.write(text);
    this.drawnLines = lines.length;
  }

  private tick(): void {
    if (this.rows.some((r) => r.status === 'running')) {
      if (!this.timer) {
        this.timer = setInterval(() => {
          this.frame += 1;
          this.render();
        }, 80);
        this.timer.unref();
      }
    } else if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.render();
  }

  private above(text: string): void {
    if (this.drawnLines > 0) this.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
    this.write(`${text}\n`);
    if (this.rows.length > 0) this.render();
  }

  protected planned(): void {
    this.tick();
  }
  protected started(): void {
    this.tick();
  }
  protected updated(): void {
    this.render();
  }
  protected finished(): void {
    this.tick();
  }
  protected closed(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.rows.length > 0) this.render();
  }
  info(message: string): void {
    this.above(`\x1b[2m${message}\x1b[0m`);
  }
  warn(message: string): void {
    this.above(`\x1b[33m! ${message}\x1b[0m`);
  }
}

/** Counts printable width only: ANSI sequences take no columns. */
function truncate(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i += 1) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width - 1) return `${out}…\x1b[0m`;
    out += line[i];
    visible += 1;
  }
  return out;
}

export function createReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  return stream.isTTY && process.env.TERM !== 'dumb' ? new TtyReporter(stream) : new PlainReporter(stream);
}
