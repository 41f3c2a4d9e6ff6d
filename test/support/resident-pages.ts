import fs from 'node:fs';

/** KiB of `file` resident in this process through its memory maps (every map of it, old ones included; Linux). */
export function residentKb(file: string): number {
  let inFile = false;
  let kb = 0;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(` ${file}`);
    else if (inFile && line.startsWith('Rss:')) kb += Number(line.split(/\s+/)[1]);
  }
  return kb;
}
