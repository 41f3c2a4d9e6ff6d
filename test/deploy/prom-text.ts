/** A reader for Prometheus' text exposition format, enough for the metrics tests. */

/** One sample line: `name{label="value",...} number`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse every sample of a scrape (comments and `# HELP` / `# TYPE` lines are skipped). */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Samples named `name` whose labels include `labels`. */
export function find(
  samples: Sample[],
  name: string,
  labels: Record<string, string | RegExp> = {},
): Sample[] {
  return samples.filter(
    (s) =>
      s.name === name &&
      Object.entries(labels).every(([k, v]) =>
        typeof v === 'string' ? s.labels[k] === v : v.test(s.labels[k] ?? ''),
      ),
  );
}

/** Sum of the values of {@link find}'s samples. */
export function total(samples: Sample[], name: string, labels: Record<string, string | RegExp> = {}): number {
  return find(samples, name, labels).reduce((a, s) => a + s.value, 0);
}
