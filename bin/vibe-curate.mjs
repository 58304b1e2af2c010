#!/usr/bin/env node
// Entry point: runs the compiled JavaScript in dist/ (built by `npm ci` through `prepare`, or by
// `npm run build` after editing the sources).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('vibe-curate: dist/: not built: run `npm run build` (npm ci runs it)\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
