/**
 * statecar's logger: pino, configured like daprd's logger.
 *
 * daprd logs one record per line with the fields `time`, `level`, `msg`, `scope`, `app_id`, `instance`, `type` and
 * `ver`. With `--log-as-json` the line is JSON (what log collectors such as Fluent Bit or Loki parse); without it,
 * daprd prints logrus' readable `key=value` text. pino only writes JSON, and pino-pretty is not a dependency (it is a
 * dev tool and pulls in a dozen packages), so the readable form comes from {@link formatLogLine}, a small formatter
 * that rewrites each JSON record pino emits into a `time="…" level=info msg="…" key=value` line.
 */
import os from 'node:os';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

/** Levels `--log-level` accepts (daprd's, plus pino's `trace` and `fatal`). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written (default `info`). */
  level?: string;
  /** `--log-as-json`: JSON lines; otherwise readable `key=value` lines. */
  json?: boolean;
  /** The `app_id` field of every record. */
  appId?: string;
  /** The `ver` field (daprd prints its version there). */
  version?: string;
  /** The `scope` field (daprd: `dapr.runtime`); default `statecar`. */
  scope?: string;
  /** Where lines go (default: stdout, written synchronously so nothing is lost on exit). */
  destination?: NodeJS.WritableStream;
}

/** Whether `value` is a level `--log-level` accepts. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Create the process logger. Records carry daprd's field names so dashboards built for daprd's JSON logs work
 * unchanged; the level is written as daprd names it (`"level":"info"`, `"level":"warning"`), not pino's number, for the
 * same reason.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (!isLogLevel(level)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const base: Record<string, string> = {
    scope: opts.scope ?? 'statecar',
    type: 'log',
    instance: os.hostname(),
  };
  if (opts.appId !== undefined) base.app_id = opts.appId;
  if (opts.version !== undefined) base.ver = opts.version;
  const options: pino.LoggerOptions = {
    level,
    base,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    // daprd's logger (logrus) spells the warn level `warning` in its records, while its flag says `warn`.
    formatters: { level: (label) => ({ level: label === 'warn' ? 'warning' : label }) },
  };
  // sync: a SIGTERM exit must not drop the last lines (pino's async mode buffers them).
  const out: NodeJS.WritableStream =
    opts.destination ?? (pino.destination({ dest: 1, sync: true }) as unknown as NodeJS.WritableStream);
  const dest: DestinationStream = opts.json ? (out as DestinationStream) : readableStream(out);
  return pino(options, dest);
}

/** A stream that turns pino's JSON lines into readable lines before writing them to `out`. */
function readableStream(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      const text = chunk.toString();
      let lines = '';
      for (const line of text.split('\n')) if (line !== '') lines += formatLogLine(line) + '\n';
      out.write(lines);
      done();
    },
  });
}

/** Fields printed first, in this order, as logrus' text formatter does for daprd. */
const LEADING = ['time', 'level', 'msg'];
/** Fields that are the same on every line: left out of the readable form to keep lines short. */
const OMITTED = new Set(['type', 'instance', 'pid', 'hostname']);

/**
 * Rewrite one pino JSON record as `time="…" level=info msg="…" app_id=… scope=… key=value …`. Values with spaces,
 * quotes or `=` are quoted; objects are rendered as compact JSON. A line that is not JSON is returned unchanged.
 */
export function formatLogLine(jsonLine: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  if (rec === null || typeof rec !== 'object') return jsonLine;
  const parts: string[] = [];
  for (const k of LEADING) if (k in rec) parts.push(`${k}=${quote(rec[k], k === 'time' || k === 'msg')}`);
  for (const [k, v] of Object.entries(rec)) {
    if (LEADING.includes(k) || OMITTED.has(k) || v === undefined) continue;
    parts.push(`${k}=${quote(v, false)}`);
  }
  return parts.join(' ');
}

function quote(v: unknown, always: boolean): string {
  // Objects (e.g. a serialized error) become quoted compact JSON, so the line stays one `key=value` list.
  if (v !== null && typeof v === 'object') return JSON.stringify(JSON.stringify(v));
  const s = String(v);
  return always || s === '' || /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}
