/**
 * Reads Dapr component files from a resources directory: every `*.yaml` / `*.yml` file, each possibly holding several
 * `---`-separated documents. Documents of other kinds (Configuration, Subscription, Resiliency, ...) are skipped, as
 * daprd's component loader does; components scoped to other apps are skipped too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { parseGoDuration } from '../engine/go-duration';
import type { ComponentDefinition } from './component-schema';
import { componentSchema, DEFAULT_INIT_TIMEOUT_MS } from './component-schema';

/** A start-up failure caused by a component file; the message names the file and the field. */
export class ComponentConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`component file ${file}: field ${field}: ${problem}`);
    this.name = 'ComponentConfigError';
  }
}

/** Render zod issues as `path: message` pairs; the first one names the field. */
export function zodFieldError(file: string, prefix: string, error: z.ZodError): ComponentConfigError {
  const issue = error.issues[0];
  const field = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
  return new ComponentConfigError(file, field || '(document)', issue.message);
}

export interface LoadOptions {
  appId: string;
  /** Environment for `secretKeyRef` (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Problems that do not stop start-up (e.g. an `initTimeout` that is not a duration). */
  warn?: (message: string) => void;
}

/** Load every component in `dirs` (in file-name order). A missing directory is an error, as in daprd. */
export function loadComponentFiles(dirs: string[], opts: LoadOptions): ComponentDefinition[] {
  const env = opts.env ?? process.env;
  const out: ComponentDefinition[] = [];
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new ComponentConfigError(dir, '--resources-path', 'not a readable directory');
    }
    const files = fs
      .readdirSync(dir)
      .filter((f) => /\.ya?ml$/i.test(f))
      .sort();
    for (const f of files) {
      const file = path.join(dir, f);
      for (const def of parseFile(file, fs.readFileSync(file, 'utf8'), opts.appId, env, opts.warn)) {
        const prev = seen.get(def.name);
        if (prev !== undefined) {
          throw new ComponentConfigError(
            file,
            'metadata.name',
            `duplicate component name "${def.name}" (also in ${prev})`,
          );
        }
        seen.set(def.name, file);
        out.push(def);
      }
    }
  }
  return out;
}

/** Parse one file's documents into component definitions. */
export function parseFile(
  file: string,
  text: string,
  appId: string,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = () => undefined,
): ComponentDefinition[] {
  const out: ComponentDefinition[] = [];
  const docs = parseAllDocuments(text);
  for (const [i, doc] of docs.entries()) {
    const where = docs.length > 1 ? `document ${i + 1}` : '';
    if (doc.errors.length > 0) {
      throw new ComponentConfigError(file, where || '(document)', `invalid YAML: ${doc.errors[0].message}`);
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue;
    if (typeof raw !== 'object' || (raw as { kind?: unknown }).kind !== 'Component') {
      // Not a component: other resource kinds share the directory in Dapr.
      if (typeof raw === 'object' && typeof (raw as { kind?: unknown }).kind === 'string') continue;
    }
    const parsed = componentSchema.safeParse(raw);
    if (!parsed.success) throw zodFieldError(file, where, parsed.error);
    const c = parsed.data;
    if (c.scopes && c.scopes.length > 0 && !c.scopes.includes(appId)) continue;
    const metadata: Record<string, string> = {};
    for (const [j, m] of (c.spec.metadata ?? []).entries()) {
      if (m.secretKeyRef) {
        const value = env[m.secretKeyRef.name];
        if (value === undefined) {
          throw new ComponentConfigError(
            file,
            `spec.metadata[${j}].secretKeyRef.name`,
            `environment variable ${m.secretKeyRef.name} (secret for metadata "${m.name}") is not set`,
          );
        }
        metadata[m.name] = value;
      } else {
        metadata[m.name] = m.value === undefined || m.value === null ? '' : String(m.value);
      }
    }
    out.push({
      name: c.metadata.name,
      type: c.spec.type,
      version: c.spec.version,
      file,
      metadata,
      ignoreErrors: c.spec.ignoreErrors ?? false,
      initTimeoutMs: initTimeoutOf(file, c.spec.initTimeout, warn),
    });
  }
  return out;
}

/** `spec.initTimeout` in ms: daprd takes a positive Go duration and falls back to its default for anything else. */
function initTimeoutOf(file: string, value: string | number | undefined, warn: (m: string) => void): number {
  if (value === undefined || value === '') return DEFAULT_INIT_TIMEOUT_MS;
  const ms = typeof value === 'string' ? parseGoDuration(value) : undefined;
  if (ms !== undefined && ms > 0) return ms;
  warn(
    `component file ${file}: field spec.initTimeout: "${value}" is not a positive duration such as 5s or 1m; ` +
      `using ${DEFAULT_INIT_TIMEOUT_MS / 1000}s`,
  );
  return DEFAULT_INIT_TIMEOUT_MS;
}
