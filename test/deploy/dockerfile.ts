/**
 * A small Dockerfile reader for the deploy tests: stages with their instructions, and the final stage's exec-form
 * ENTRYPOINT / CMD, EXPOSE, USER and ENV. Enough for deploy/Dockerfile; not a general parser.
 */
import fs from 'node:fs';
import path from 'node:path';

/** deploy/Dockerfile of this repository. */
export const DOCKERFILE = path.resolve(__dirname, '..', '..', 'deploy', 'Dockerfile');

export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  stages: Stage[];
  /** The last stage (what `docker build` produces). */
  runtime: Stage;
  entrypoint: string[];
  cmd: string[];
  expose: number[];
  user?: string;
  env: Record<string, string>;
  workdir?: string;
}

/** Join continuation lines, drop comments and parser directives, split into stages. */
export function parseDockerfile(text: string = fs.readFileSync(DOCKERFILE, 'utf8')): ParsedDockerfile {
  const lines: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (cur === '' && (line === '' || line.startsWith('#'))) continue;
    if (cur !== '' && line.startsWith('#')) continue; // comments inside a continued instruction
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    lines.push(cur + line);
    cur = '';
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args[k] = v ?? '';
      continue;
    }
    if (op === 'FROM') {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!fm) throw new Error(`bad FROM: ${rest}`);
      const from = fm[1].replace(/\$\{(\w+)\}/g, (_s, name: string) => args[name] ?? '');
      stages.push({ from, name: fm[2], instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`instruction before FROM: ${line}`);
    stages[stages.length - 1].instructions.push({ op, args: rest });
  }
  const runtime = stages[stages.length - 1];
  if (!runtime) throw new Error('no FROM in Dockerfile');
  const last = (op: string) => [...runtime.instructions].reverse().find((i) => i.op === op)?.args;
  const execForm = (op: string): string[] => {
    const v = last(op);
    if (v === undefined) return [];
    if (!v.startsWith('[')) throw new Error(`${op} must use the exec (JSON array) form: ${v}`);
    return JSON.parse(v) as string[];
  };
  const env: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return {
    stages,
    runtime,
    entrypoint: execForm('ENTRYPOINT'),
    cmd: execForm('CMD'),
    expose: runtime.instructions
      .filter((i) => i.op === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/))
      .map((p) => Number(p.split('/')[0])),
    user: last('USER'),
    env,
    workdir: last('WORKDIR'),
  };
}
