/**
 * vitest global setup: brings dist/ up to date with the sources (`npm run build`, incremental), so
 * the tests that run `bin/vibe-curate.mjs` exercise the compiled CLI built from this checkout.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const repo = path.resolve(import.meta.dirname, '..', '..');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'inherit' });
}
