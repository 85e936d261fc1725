/**
 * The fake router as a standalone process (for benchmarks and manual runs):
 *
 *   node --import tsx test/fakes/fake-router-server.ts --socket PATH --pod-cidr CIDR [--pod-cidr CIDR]
 *        [--mtu N] [--no-netns]
 *
 * Prints `ready <socket>` on stdout once listening. On SIGTERM/SIGINT it stops and prints one
 * JSON line: per-op count and p50/p99 service time in ms.
 */
import { FakeRouter } from './fake-router.ts';

const argv = process.argv.slice(2);
const values = (k: string) => argv.flatMap((a, i) => (a === k && argv[i + 1] !== undefined ? [argv[i + 1]] : []));
const socketPath = values('--socket')[0];
const podCIDRs = values('--pod-cidr');
if (!socketPath || podCIDRs.length === 0) {
  process.stderr.write('usage: fake-router-server.ts --socket PATH --pod-cidr CIDR [--pod-cidr CIDR] [--mtu N] [--no-netns]\n');
  process.exit(2);
}
const mtu = values('--mtu')[0];
const router = new FakeRouter({ socketPath, podCIDRs, mtu: mtu ? Number(mtu) : undefined, netnsWork: !argv.includes('--no-netns') });
await router.start();
process.stdout.write(`ready ${socketPath}\n`);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
const stop = async () => {
  await router.stop();
  const stats: Record<string, { count: number; p50: number; p99: number }> = {};
  for (const op of new Set(router.opTimes.map((t) => t.op))) {
    const xs = router.opTimes.filter((t) => t.op === op).map((t) => t.ms);
    stats[op] = { count: xs.length, p50: pct(xs, 50), p99: pct(xs, 99) };
  }
  process.stdout.write(JSON.stringify(stats) + '\n');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
