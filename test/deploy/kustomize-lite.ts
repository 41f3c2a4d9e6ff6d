/**
 * Just enough of kustomize to render statecar's own deploy/kubernetes overlays without a kubectl binary (CI machines
 * may not have one): `resources` (files and directories), `configMapGenerator` / `secretGenerator` (without the
 * content-hash suffix), `images`, `labels` and `patches` with JSON 6902 operations. Anything else in a
 * kustomization makes {@link renderKustomization} throw, so a manifest change the tests cannot check is noticed.
 * When kubectl is installed, the tests also render with `kubectl kustomize` and run the same checks on its output.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** A Kubernetes object as parsed YAML. */
export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
};

interface Kustomization {
  resources?: string[];
  configMapGenerator?: { name: string; files?: string[]; literals?: string[] }[];
  secretGenerator?: { name: string; files?: string[]; literals?: string[] }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  labels?: { pairs: Record<string, string> }[];
  patches?: { target: { kind: string; name: string }; patch?: string; path?: string }[];
}

const SUPPORTED = new Set([
  'apiVersion',
  'kind',
  'resources',
  'configMapGenerator',
  'secretGenerator',
  'images',
  'labels',
  'patches',
]);

/** Parse every YAML document of a file, skipping empty ones. */
export function readYamlDocs(file: string): K8sObject[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((d): d is K8sObject => d !== null);
}

/** Render the kustomization in `dir` (the equivalent of `kubectl kustomize dir`, minus name hashes). */
export function renderKustomization(dir: string): K8sObject[] {
  const k = parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key))
      throw new Error(`${dir}/kustomization.yaml: kustomize-lite does not support "${key}"`);
  }
  const out: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    out.push(...(fs.statSync(p).isDirectory() ? renderKustomization(p) : readYamlDocs(p)));
  }
  const literalMap = (literals: string[] = []) =>
    Object.fromEntries(literals.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const fileMap = (files: string[] = []) =>
    Object.fromEntries(files.map((f) => [path.basename(f), fs.readFileSync(path.join(dir, f), 'utf8')]));
  for (const g of k.configMapGenerator ?? []) {
    out.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: g.name },
      data: { ...fileMap(g.files), ...literalMap(g.literals) },
    });
  }
  for (const g of k.secretGenerator ?? []) {
    const data = { ...fileMap(g.files), ...literalMap(g.literals) };
    out.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: g.name },
      type: 'Opaque',
      data: Object.fromEntries(
        Object.entries(data).map(([key, v]) => [key, Buffer.from(v).toString('base64')]),
      ),
    });
  }
  for (const p of k.patches ?? []) {
    const ops = parse(p.patch ?? fs.readFileSync(path.join(dir, p.path ?? ''), 'utf8')) as JsonPatchOp[];
    const targets = out.filter((o) => o.kind === p.target.kind && o.metadata.name === p.target.name);
    if (targets.length === 0)
      throw new Error(`${dir}: patch target ${p.target.kind}/${p.target.name} not found`);
    for (const t of targets) applyJsonPatch(t, ops);
  }
  for (const img of k.images ?? []) {
    for (const c of allContainers(out)) {
      const [name, tag] = splitImage(String(c.image));
      if (name !== img.name) continue;
      c.image = `${img.newName ?? name}${img.newTag ? `:${img.newTag}` : tag ? `:${tag}` : ''}`;
    }
  }
  for (const l of k.labels ?? []) {
    for (const o of out) o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
  }
  return out;
}

function splitImage(image: string): [string, string | undefined] {
  const i = image.lastIndexOf(':');
  return i > image.lastIndexOf('/') && i >= 0 ? [image.slice(0, i), image.slice(i + 1)] : [image, undefined];
}

/** Every container and init container of every workload in `objs`. */
export function allContainers(objs: K8sObject[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const o of objs) {
    const spec = (o.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
    if (!spec) continue;
    for (const key of ['initContainers', 'containers']) {
      out.push(...((spec[key] as Record<string, unknown>[] | undefined) ?? []));
    }
  }
  return out;
}

/** One RFC 6902 operation (the ones kustomize's patches use). */
export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new Error(`bad JSON pointer ${p}`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, p: string): [Record<string, unknown> | unknown[], string] {
  const parts = pointer(p);
  const last = parts.pop();
  if (last === undefined) throw new Error('cannot patch the document root');
  let cur: unknown = doc;
  for (const part of parts) {
    cur = Array.isArray(cur) ? cur[Number(part)] : (cur as Record<string, unknown>)[part];
    if (cur === undefined || cur === null) throw new Error(`JSON pointer ${p}: ${part} not found`);
  }
  return [cur as Record<string, unknown> | unknown[], last];
}

function getAt(doc: unknown, p: string): unknown {
  const [parent, key] = parentOf(doc, p);
  const v = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (v === undefined) throw new Error(`JSON pointer ${p} not found`);
  return v;
}

function removeAt(doc: unknown, p: string): unknown {
  const [parent, key] = parentOf(doc, p);
  const v = getAt(doc, p);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return v;
}

function addAt(doc: unknown, p: string, value: unknown, replace: boolean): void {
  const [parent, key] = parentOf(doc, p);
  if (Array.isArray(parent)) {
    if (key === '-') parent.push(value);
    else if (replace) parent[Number(key)] = value;
    else parent.splice(Number(key), 0, value);
  } else {
    if (replace && !(key in parent)) throw new Error(`replace: ${p} not found`);
    parent[key] = value;
  }
}

/** Apply RFC 6902 operations to `doc` in place. */
export function applyJsonPatch(doc: unknown, ops: JsonPatchOp[]): void {
  for (const op of ops) {
    const clone = (v: unknown) => structuredClone(v);
    switch (op.op) {
      case 'add':
        addAt(doc, op.path, clone(op.value), false);
        break;
      case 'replace':
        addAt(doc, op.path, clone(op.value), true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move':
        addAt(doc, op.path, removeAt(doc, op.from ?? ''), false);
        break;
      case 'copy':
        addAt(doc, op.path, clone(getAt(doc, op.from ?? '')), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value))
          throw new Error(`test failed at ${op.path}`);
        break;
    }
  }
}

/** Whether a usable `kubectl` (with its built-in kustomize) is on the PATH. */
export function hasKubectl(): boolean {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0;
}

/** `kubectl kustomize dir`, parsed. */
export function kubectlKustomize(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}
