/**
 * One way to do each thing, checked on the source text of the whole tree (tests and benchmarks
 * included): BullMQ stays behind pipeline/queues.ts and the workers' processor; no module builds
 * its own sleep, concurrency limiter or Postgres array literal; the pixel limit is one constant.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP = new Set(['node_modules', '.git', 'migrations', 'vendor', 'data', 'test-output', 'dist']);

/** Every .ts/.mjs/.js file under the repository, as a path relative to it. */
function sourceFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|mjs|js)$/.test(e.name)) out.push(path.relative(ROOT, full).split(path.sep).join('/'));
  }
  return out;
}

const files = sourceFiles();
const text = new Map(files.map((f) => [f, readFileSync(path.join(ROOT, f), 'utf8')]));
const THIS = 'test/foundation/imports.test.ts';

/** Files (other than this one) whose text matches `re`. */
const matching = (re: RegExp, only: (f: string) => boolean = () => true) => files.filter((f) => f !== THIS && only(f) && re.test(text.get(f)!));

describe('one way to do each thing', () => {
  it('scans the tree', () => {
    expect(files).toContain('pipeline/queues.ts');
    expect(files).toContain('workers/processor.ts');
    expect(files.length).toBeGreaterThan(100);
  });

  it('keeps bullmq out of pipeline/ except pipeline/queues.ts, and translates rate limits in workers/processor.ts', () => {
    const importsBullmq = /\bfrom\s+['"]bullmq['"]|import\(\s*['"]bullmq['"]\s*\)|require\(\s*['"]bullmq['"]\s*\)/;
    expect(matching(importsBullmq, (f) => f.startsWith('pipeline/'))).toEqual(['pipeline/queues.ts']);
    expect(matching(/Worker\.RateLimitError\(\)/)).toEqual(['workers/processor.ts']);
    expect(text.get('workers/processor.ts')).toMatch(/instanceof RateLimitError/);
    // both HTTP clients read a server's wait the same way
    expect(matching(/function\s+parseRetryAfter\b/)).toEqual(['pipeline/errors/index.ts']);
  });

  it('has one sleep (pipeline/sleep.ts)', () => {
    // a promise resolved by a bare timer: `new Promise((r) => setTimeout(r, ms))` and the like
    const timerPromise = /new Promise(<[^>]*>)?\(\s*\(?\s*(\w+)\s*\)?\s*=>\s*\{?\s*setTimeout\(\s*(\2\s*,|\(\)\s*=>\s*\2\(\))/;
    const ownSleep = /function\s+(sleep|delay|pause)\b|(const|let)\s+(sleep|delay|pause)\s*=\s*(async\s*)?\(/;
    expect(matching(timerPromise)).toEqual([]);
    expect(matching(ownSleep)).toEqual(['pipeline/sleep.ts']);
    expect(matching(/from\s+['"](node:)?timers\/promises['"]/)).toEqual([]);
  });

  it('has one concurrency limiter (p-limit)', () => {
    const ownLimiter = /class\s+\w*(Semaphore|Limiter|Mutex)\b|function\s+(semaphore|mapLimit|limiter|pLimit)\b|(const|let)\s+(mapLimit|semaphore)\s*=/i;
    expect(matching(ownLimiter)).toEqual([]);
  });

  it('binds arrays as parameters instead of writing Postgres array literals', () => {
    // `{…}` strings joined with commas (`{${ids.join(',')}}`), or ARRAY[…] spliced from JS values
    const literal = /`\{\$\{[^`]*\.join\(|sql\.raw\(`ARRAY\[\$\{/;
    expect(matching(literal)).toEqual([]);
  });

  it('writes the default pixel limit once (DEFAULT_MAX_PIXELS in pipeline/limits.ts)', () => {
    expect(matching(/\b40_?000_?000\b|\b4e7\b|\b40e6\b/)).toEqual(['pipeline/limits.ts']);
  });
});
