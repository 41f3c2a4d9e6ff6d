/**
 * The methods a `.proto` file's service declares — names, paths and streaming — read from the file's text, without
 * parsing its messages.
 *
 * This is all a server needs to register a service; the codecs come from proto-loader when a method is first
 * called (./lazy-service.ts). Parsing statecar's protos (the Dapr API alone is ~90 message types) with protobufjs
 * at start held ~5 MB of a sidecar's memory (docs/performance.md, issue 17) for the many methods a sidecar is never
 * asked. test/grpc-server/proto-shapes.test.ts checks these shapes against proto-loader's for every served service.
 */
import fs from 'node:fs';
import path from 'node:path';
import camelCase from 'lodash.camelcase';
import type { MethodShape } from './lazy-service';

/** Strings (kept) and comments (dropped) in .proto text, in one pass so `//` inside a string is not a comment. */
const STRINGS_AND_COMMENTS = /("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g;
const RPC = /\brpc\s+(\w+)\s*\(\s*(stream\s+)?[\w.]+\s*\)\s*returns\s*\(\s*(stream\s+)?[\w.]+\s*\)/g;

/**
 * The methods of service `dotted` (e.g. `etcdserverpb.KV`) declared in `file` (absolute). Throws when the file does
 * not declare it. `originalName` is proto-loader's (lodash's camelCase of the method name).
 */
export function serviceShapes(file: string, dotted: string): MethodShape[] {
  const text = fs.readFileSync(file, 'utf8').replace(STRINGS_AND_COMMENTS, (_m, str?: string) => str ?? ' ');
  const pkg = /\bpackage\s+([\w.]+)\s*;/.exec(text)?.[1] ?? '';
  const serviceName = dotted.slice(dotted.lastIndexOf('.') + 1);
  if ((pkg ? `${pkg}.${serviceName}` : serviceName) !== dotted) {
    throw new Error(`${path.basename(file)} is package ${pkg}, not ${dotted}`);
  }
  const open = new RegExp(`\\bservice\\s+${serviceName}\\s*\\{`).exec(text);
  if (!open) throw new Error(`service ${dotted} not found in ${file}`);
  // The service's body: up to the brace that closes it (rpc options have braces of their own).
  let depth = 1;
  let end = open.index + open[0].length;
  for (; end < text.length && depth > 0; end++) {
    if (text[end] === '{') depth++;
    else if (text[end] === '}') depth--;
  }
  const body = text.slice(open.index + open[0].length, end - 1);
  const shapes: MethodShape[] = [];
  for (const m of body.matchAll(RPC)) {
    shapes.push({
      name: m[1],
      originalName: camelCase(m[1]),
      path: `/${dotted}/${m[1]}`,
      requestStream: m[2] !== undefined,
      responseStream: m[3] !== undefined,
    });
  }
  if (shapes.length === 0) throw new Error(`service ${dotted} in ${file} declares no methods`);
  return shapes;
}
