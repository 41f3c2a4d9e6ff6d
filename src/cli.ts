#!/usr/bin/env node
/**
 * `statecar`: a daprd-compatible command line. Flags keep daprd's names and defaults; each has an environment
 * variable equivalent (the flag wins). Exit code 1 with a message naming the file and field when the components are
 * invalid.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ComponentConfigError } from './components/component-loader';
import { DEFAULT_GRACEFUL_SHUTDOWN_SECONDS, ShutdownCoordinator } from './lifecycle/shutdown-coordinator';
import { startIdleCollector } from './lifecycle/idle-collector';
import { ListenError } from './lifecycle/listen-ports';
import { createLogger } from './observability/logger';
import { routeProcessWarnings } from './observability/process-warnings';
import { runtimeVersion, Sidecar } from './sidecar';
import type { SidecarConfig } from './sidecar';

/** One flag: its env equivalent and default (as the string a user would type). */
interface FlagSpec {
  env?: string;
  default?: string;
  help: string;
  /** What the value is, for --help (as Go's flag package shows it); bool flags take none. */
  value?: string;
  multiple?: boolean;
  /** A Go-style bool flag: `--x`, `--x=false`, or (for convenience) `--x false`. */
  boolean?: boolean;
}

/** daprd's flags that statecar implements (plus `--etcd-port`). */
export const FLAGS: Record<string, FlagSpec> = {
  'app-id': { env: 'APP_ID', default: '', value: 'id', help: 'the application id' },
  'app-port': {
    env: 'APP_PORT',
    value: 'port',
    help: "the app's HTTP port on 127.0.0.1: the app channel, where configuration updates are sent",
  },
  'dapr-http-port': { env: 'DAPR_HTTP_PORT', default: '3500', value: 'port', help: 'HTTP API port' },
  'dapr-grpc-port': { env: 'DAPR_GRPC_PORT', default: '50001', value: 'port', help: 'gRPC API port' },
  'resources-path': {
    env: 'DAPR_RESOURCES_PATH',
    value: 'dir',
    help: 'directory of component YAML files; repeatable (comma-separated in the environment)',
    multiple: true,
  },
  'components-path': { value: 'dir', help: 'deprecated alias of --resources-path', multiple: true },
  'metrics-port': {
    env: 'DAPR_METRICS_PORT',
    default: '9090',
    value: 'port',
    help: 'Prometheus metrics port',
  },
  'enable-metrics': { env: 'DAPR_ENABLE_METRICS', default: 'true', help: 'serve metrics', boolean: true },
  'dapr-listen-addresses': {
    env: 'DAPR_LISTEN_ADDRESSES',
    default: '127.0.0.1',
    value: 'addresses',
    help: 'comma-separated addresses the API ports bind to',
  },
  'log-level': {
    env: 'DAPR_LOG_LEVEL',
    default: 'info',
    value: 'level',
    help: 'debug, info, warn, error or fatal',
  },
  'log-as-json': {
    env: 'DAPR_LOG_AS_JSON',
    default: 'false',
    help: 'write JSON log lines (else readable key=value lines)',
    boolean: true,
  },
  'dapr-graceful-shutdown-seconds': {
    env: 'DAPR_GRACEFUL_SHUTDOWN_SECONDS',
    default: String(DEFAULT_GRACEFUL_SHUTDOWN_SECONDS),
    value: 'seconds',
    help: 'on SIGTERM, finish in-flight requests and close the stores within this many seconds',
  },
  'max-body-size': {
    env: 'DAPR_MAX_BODY_SIZE',
    default: '4Mi',
    value: 'size',
    help: 'largest request body / gRPC message: bytes, or a quantity like 4Mi, 512Ki, 16M',
  },
  'etcd-port': { env: 'STATECAR_ETCD_PORT', value: 'port', help: 'also serve the etcd v3 API on this port' },
};

const port = (flag: string) =>
  z
    .string()
    .regex(/^\d+$/, `--${flag} must be a port number`)
    .transform(Number)
    .refine((n) => n >= 0 && n <= 65535, `--${flag} must be between 0 and 65535`);

const QUANTITY_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/** Parse daprd's `--max-body-size` (a Kubernetes quantity: `4Mi`, `512Ki`, `1000000`). */
export function parseQuantity(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKMG]i?|)$/.exec(text.trim());
  const unit = m ? QUANTITY_UNITS[m[2]] : undefined;
  if (!m || unit === undefined)
    throw new Error(`--max-body-size: invalid size "${text}" (e.g. 4Mi, 512Ki, 1048576)`);
  const n = Math.floor(Number(m[1]) * unit);
  if (n < 1) throw new Error('--max-body-size must be at least 1 byte');
  return n;
}

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], {
  error: '--log-level must be one of debug, info, warn, error, fatal',
});

/**
 * Usage text for --help, laid out as Go's flag package prints daprd's: each flag on its own line with the kind of
 * value it takes, its description indented on the next, so a long flag name never runs into its text.
 */
export function usage(): string {
  const lines: string[] = [];
  for (const [name, f] of Object.entries(FLAGS)) {
    lines.push(`  --${name}${f.boolean ? '' : ` ${f.value ?? 'string'}`}`);
    const extra = [f.default ? `default ${f.default}` : '', f.env ? `env ${f.env}` : '']
      .filter((x) => x !== '')
      .join('; ');
    lines.push(`        ${f.help}${extra ? ` (${extra})` : ''}`);
  }
  lines.push(
    '  --version',
    '        print the version and exit',
    '  -h, --help',
    '        show this help and exit',
  );
  return (
    `Usage: statecar [flags]\n\nFlags (also written with one dash, as daprd's):\n${lines.join('\n')}\n\n` +
    'Environment: DAPR_API_TOKEN requires clients to send that token.\n'
  );
}

const BOOL_TEXT: Record<string, boolean> = {
  true: true,
  '1': true,
  t: true,
  false: false,
  '0': false,
  f: false,
};

/** Parse a bool flag's text as Go's strconv.ParseBool does. */
function parseBool(flag: string, text: string): boolean {
  const v = BOOL_TEXT[text.toLowerCase()];
  if (v === undefined) throw new Error(`--${flag} must be true or false, got "${text}"`);
  return v;
}

/**
 * Take bool flags out of argv: `--x`, `--x=false` (Go's form) and `--x false`. parseArgs would reject a value
 * attached to a boolean option, so they are resolved here.
 */
function extractBoolFlags(argv: string[]): { rest: string[]; bools: Map<string, boolean> } {
  const bools = new Map<string, boolean>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(argv[i]);
    const name = m?.[1];
    if (!m || name === undefined || !FLAGS[name]?.boolean) {
      rest.push(argv[i]);
      continue;
    }
    if (m[2] !== undefined) {
      bools.set(name, parseBool(name, m[2]));
    } else if (i + 1 < argv.length && BOOL_TEXT[argv[i + 1].toLowerCase()] !== undefined) {
      bools.set(name, parseBool(name, argv[++i]));
    } else {
      bools.set(name, true);
    }
  }
  return { rest, bools };
}

/** Go's flag package takes `-name` as well as `--name`: spell every known flag with two dashes. */
function twoDashes(argv: string[]): string[] {
  const known = (name: string) =>
    Object.prototype.hasOwnProperty.call(FLAGS, name) || name === 'help' || name === 'version';
  return argv.map((a) => {
    const m = /^-([a-z][a-z-]*)(=.*)?$/s.exec(a);
    return m && known(m[1]) ? `-${a}` : a;
  });
}

/**
 * Turn argv + environment into a sidecar configuration, or 'help' / 'version' when those were asked for. Throws
 * with a readable message on bad input.
 */
export function parseCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): SidecarConfig | 'help' | 'version' {
  const { rest, bools } = extractBoolFlags(twoDashes(argv));
  const boolFlag = (name: string): boolean => {
    const given = bools.get(name);
    if (given !== undefined) return given;
    const f = FLAGS[name];
    return parseBool(name, (f.env ? env[f.env] : undefined) ?? f.default ?? 'false');
  };
  const { values: parsed } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: false,
    options: {
      ...Object.fromEntries(
        Object.entries(FLAGS).map(([name, f]) => [
          name,
          { type: 'string' as const, multiple: f.multiple ?? false },
        ]),
      ),
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (parsed.help) return 'help';
  if (parsed.version) return 'version';
  const values = parsed as Record<string, string | string[] | boolean | undefined>;
  const get = (name: string): string | undefined => {
    const v = values[name];
    if (typeof v === 'string') return v;
    const f = FLAGS[name];
    return (f.env ? env[f.env] : undefined) ?? f.default;
  };
  const list = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const check = <T>(schema: z.ZodType<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (!r.success) throw new Error(r.error.issues[0].message);
    return r.data;
  };

  const flagPaths = [
    ...((values['resources-path'] as string[] | undefined) ?? []),
    ...((values['components-path'] as string[] | undefined) ?? []),
  ];
  const resourcesPaths = flagPaths.length > 0 ? flagPaths : list(env.DAPR_RESOURCES_PATH);
  if (resourcesPaths.length === 0) resourcesPaths.push('./components');
  const etcdPort = get('etcd-port');
  const appPort = get('app-port');
  const enableMetrics = boolFlag('enable-metrics');
  const grace = get('dapr-graceful-shutdown-seconds') ?? String(DEFAULT_GRACEFUL_SHUTDOWN_SECONDS);
  if (!/^\d+(\.\d+)?$/.test(grace)) {
    throw new Error(`--dapr-graceful-shutdown-seconds must be a number of seconds, got "${grace}"`);
  }
  const listen = list(get('dapr-listen-addresses'));
  const token = env.DAPR_API_TOKEN;

  return {
    appId: get('app-id') ?? '',
    httpPort: check(port('dapr-http-port'), get('dapr-http-port')),
    grpcPort: check(port('dapr-grpc-port'), get('dapr-grpc-port')),
    metricsPort: enableMetrics ? check(port('metrics-port'), get('metrics-port')) : undefined,
    listenAddresses: listen.length > 0 ? listen : ['127.0.0.1'],
    resourcesPaths,
    logLevel: check(logLevel, get('log-level')),
    logAsJson: boolFlag('log-as-json'),
    gracefulShutdownSeconds: Number(grace),
    maxBodySize: parseQuantity(get('max-body-size') ?? '4Mi'),
    etcdPort: etcdPort === undefined ? undefined : check(port('etcd-port'), etcdPort),
    appPort: appPort === undefined || appPort === '' ? undefined : check(port('app-port'), appPort),
    apiToken: token === undefined || token === '' ? undefined : token,
  };
}

async function main(): Promise<void> {
  // `statecar snapshot ...` is its own command (snapshot-command.ts), not a sidecar start.
  if (process.argv[2] === 'snapshot') {
    // Loaded only for that command: it pulls in LMDB and the bbolt reader, which a sidecar never needs.
    const { snapshotCommand } = await import('./snapshot-command');
    process.exitCode = await snapshotCommand(process.argv.slice(3));
    return;
  }
  let config: SidecarConfig | 'help' | 'version';
  try {
    config = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`statecar: ${(err as Error).message}\n\n${usage()}`);
    process.exit(2);
  }
  if (config === 'help') {
    process.stdout.write(usage());
    return;
  }
  if (config === 'version') {
    // As `daprd --version`: the version alone, the same string the metadata API reports as runtimeVersion.
    process.stdout.write(`${runtimeVersion()}\n`);
    return;
  }
  // The process's logger exists before start-up, so warnings Node raises while the stores open (e.g. a TLS
  // dependency's deprecation) are log records too, JSON with --log-as-json.
  config.logger ??= createLogger({
    level: config.logLevel,
    json: config.logAsJson,
    appId: config.appId,
    version: runtimeVersion(),
  });
  routeProcessWarnings(config.logger);
  let sidecar: Sidecar | undefined;
  // SIGTERM / SIGINT / the Shutdown API: a graceful stop within --dapr-graceful-shutdown-seconds, then exit.
  const coordinator = new ShutdownCoordinator({
    gracefulSeconds: config.gracefulShutdownSeconds,
    stop: async () => sidecar?.stop(),
    log: {
      info: (m) => sidecar?.log.info(m),
      warn: (m) => sidecar?.log.warn(m),
      error: (m) => sidecar?.log.error(m),
    },
  }).install();
  config.onShutdownRequest = () => void coordinator.trigger('Shutdown API');
  try {
    sidecar = await Sidecar.start(config);
  } catch (err) {
    // Problems of the user's configuration are one line; anything else keeps its stack for a bug report.
    const known = err instanceof ComponentConfigError || err instanceof ListenError;
    const msg = known ? err.message : ((err as Error).stack ?? String(err));
    process.stderr.write(`statecar: failed to start: ${msg}\n`);
    process.exit(1);
  }
  startIdleCollector();
}

if (require.main === module) void main();
