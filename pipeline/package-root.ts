/**
 * Where the package is installed, and its version. The same code runs from the sources (tsx) and
 * from `dist/` (compiled), at different depths, so the root is found by walking up to this
 * package's package.json rather than by a fixed number of `..`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

function findRoot(from: string): { root: string; version: string } {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vibe-curate') return { root: dir, version: pkg.version ?? '0.0.0' };
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`vibe-curate: package.json not found above ${from}`);
  }
}

const found = findRoot(import.meta.dirname);

/** The package's root directory (holds package.json, migrations/, test/fixtures/). */
export const PACKAGE_ROOT = found.root;
/** The version in package.json. */
export const TOOL_VERSION = found.version;
