/**
 * CLI start-up: `vibe-curate --help` (the compiled bin) against `node -e 0`, median of RUNS runs
 * each, taken in turns so load changes hit both alike. Target (issue 18): ≤ 8× `node -e 0`.
 * Also printed for reference: the same help run from the sources through tsx (what every
 * command paid before dist/), and `status --help` (one command's modules loaded).
 * Run: npm run build && npx tsx test/bench/cli-startup.bench.ts
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '..', '..');
const RUNS = Number(process.env.RUNS ?? 10);
const cases: Record<string, string[]> = {
  'node -e 0': ['-e', '0'],
  'vibe-curate --help': ['bin/vibe-curate.mjs', '--help'],
  'vibe-curate status --help': ['bin/vibe-curate.mjs', 'status', '--help'],
  '--help from sources (tsx)': ['--import', 'tsx', '-e', "const { main } = await import('./cli/main.ts'); await main(['node', 'vibe-curate', '--help']);"],
};

const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < RUNS; r++) {
  for (const [name, args] of Object.entries(cases)) {
    const t0 = performance.now();
    const out = spawnSync(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    times[name]!.push(performance.now() - t0);
    if (out.status !== 0) throw new Error(`${name} exited ${out.status}: ${out.stderr}`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(times['node -e 0']!);
console.log(`median of ${RUNS} runs each, wall ms (ratio to node -e 0)`);
for (const name of Object.keys(cases)) {
  const m = median(times[name]!);
  console.log(`${name.padEnd(28)} ${m.toFixed(0).padStart(6)} ms  ${(m / base).toFixed(2)}×${name === 'vibe-curate --help' ? ' (target ≤ 8×)' : ''}`);
}
