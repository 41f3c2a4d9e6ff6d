/**
 * The start-up protocol shared by the floor servers: each is its own process (so its CPU and RSS are measured
 * apart from the bench) and prints `READY <port>` on stdout once it listens on a free loopback port.
 */

/** Announce the bound port to the parent. */
export function announceReady(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

/** The fixed value every floor answers with (argv[2], the same bytes statecar serves for the benchmark key). */
export function floorValue(): Buffer {
  return Buffer.from(process.argv[2] ?? '{"v":"x"}', 'utf8');
}

/** Exit cleanly on SIGTERM (so `--cpu-prof` profiles are written when a floor is profiled). */
export function exitOnSigterm(close: () => void): void {
  process.once('SIGTERM', () => {
    close();
    process.exit(0);
  });
}
