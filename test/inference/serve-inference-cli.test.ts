import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/vibe-curate.mjs');

describe('vibe-curate serve-inference', () => {
  it('serves the built-in core until SIGTERM, then exits 0', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vc-serve-inference-'));
    const child = spawn(process.execPath, [BIN, 'serve-inference', '--port', '0'], { env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 30_000);
        const check = () => {
          const m = /inference core: (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        };
        child.stdout.on('data', check);
      });
      const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const image = fs.readFileSync(path.join(ROOT, 'test/fixtures/images/rocket.jpg'));
      const res = await openai.images.edit({ image: await toFile(image, 'rocket.jpg', { type: 'image/jpeg' }), prompt: 'flip it horizontally', n: 2 });
      const src = await sharp(image).metadata();
      for (const d of res.data!) {
        const m = await sharp(Buffer.from(d.b64_json!, 'base64')).metadata();
        expect([m.width, m.height]).toEqual([src.width, src.height]);
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toMatch(/SIGTERM: closing the inference core/);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a bad port with exit code 2 and a one-line error', async () => {
    const child = spawn(process.execPath, [BIN, 'serve-inference', '--port', 'ninety'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err.trim()).toBe('vibe-curate: --port: expected a port 0–65535, got "ninety"');
  });
});
