/**
 * Locates statecar's `proto/` directory (next to `src/` in the repository and in the published package), from both
 * the TypeScript sources and the built `dist/src/...` files.
 */
import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** Absolute path of the `proto/` directory. */
export function protoRoot(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'dapr', 'proto', 'runtime', 'v1', 'dapr.proto'))) {
      cached = candidate;
      return candidate;
    }
    if (path.dirname(dir) === dir) throw new Error(`statecar proto/ directory not found above ${__dirname}`);
  }
}
