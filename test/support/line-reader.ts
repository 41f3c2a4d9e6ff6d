import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for each complete line a child process writes to `stream` (a line protocol on its stdout).
 * Returns a function telling what is left of an unfinished last line: a worker killed mid-write leaves one.
 */
export function readLines(stream: Readable, onLine: (line: string) => void): () => string {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  return () => pending;
}
