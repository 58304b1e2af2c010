/**
 * `vibe-curate demo` on the embedded default (PGlite in DATA_DIR/pg, the built-in inference
 * core and metric judge in-process): prints the funnel and where the shards are, writes SFT
 * and DPO shards, and a second run is idempotent (nothing new generated).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-run.ts';
import { REDIS_URL, tempDir } from './pipeline-helpers.ts';

describe('vibe-curate demo', () => {
  const tmp = tempDir('demo');
  afterAll(() => tmp.cleanup());

  it('runs every stage, exports shards, prints the funnel; a re-run adds nothing', async () => {
    const env = { DATA_DIR: path.join(tmp.dir, 'data'), REDIS_URL, DATABASE_URL: '', INFERENCE_URL: '', JUDGE_URL: '' };
    const out = path.join(tmp.dir, 'out');
    const r = await runCli(['demo', '--requests', '6', '--candidates', '3', '--out', out], env, 110_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/demo: 6 requests \(6 sample images × built-in instructions\), 3 candidates each; database pglite /);
    expect(r.stdout).toMatch(/^requests\s+6\s+pending 0, generated 0, settled 6, selected 6, failed 0/m);
    expect(r.stdout).toMatch(/^candidates generated\s+18\b/m);
    expect(r.stdout).toMatch(/^this run: 6 new request\(s\), 0 already present; 6 selected, 0 failed/m);
    for (const kind of ['sft', 'dpo']) {
      const manifest = JSON.parse(readFileSync(path.join(out, kind, 'manifest.json'), 'utf8')) as { shardlist: { url: string; nsamples: number }[] };
      const line = new RegExp(`^${kind}\\s+(\\d+) samples\\s+${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${kind}\\b`, 'm').exec(r.stdout);
      expect(line, r.stdout).not.toBeNull();
      expect(manifest.shardlist.reduce((a, s) => a + s.nsamples, 0)).toBe(Number(line![1]));
      for (const s of manifest.shardlist) expect(existsSync(path.join(out, kind, s.url))).toBe(true);
    }
    const again = await runCli(['demo', '--requests', '6', '--candidates', '3', '--out', out], env, 90_000);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^this run: 0 new request\(s\), 6 already present; 6 selected, 0 failed/m);
    expect(again.stdout).toMatch(/^candidates generated\s+18\b/m);
  }, 200_000);
});
