import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/vibe-curate.mjs');

/** Runs `serve-inference ARGS` until it prints its URL (then SIGTERM) or exits; the exit code and all output. */
async function run(args: string[], env: Record<string, string> = {}, onUrl?: (url: string) => Promise<void>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, 'serve-inference', ...args], { env: { ...process.env, INFERENCE_API_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let seen = false;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const onData = (d: Buffer) => {
    out += d.toString();
    const m = /inference core: (http:\/\/\S+)/.exec(out);
    if (m && !seen) {
      seen = true;
      void (onUrl?.(m[1]!) ?? Promise.resolve()).finally(() => child.kill('SIGTERM'));
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  try {
    return { code: await exited, out };
  } finally {
    child.kill('SIGKILL');
  }
}

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

  it('bounds --max-upload-mb: 1e9 exits 2 naming the flag', async () => {
    const { code, out } = await run(['--port', '0', '--max-upload-mb', '1e9']);
    expect(code).toBe(2);
    expect(out.trim()).toBe('vibe-curate: --max-upload-mb: expected a size in MiB above 0 and at most 200, got "1e9"');
  });

  it('refuses a non-loopback --host without INFERENCE_API_KEY (exit 2, one line) unless --allow-unauthenticated', async () => {
    const refused = await run(['--port', '0', '--host', '0.0.0.0']);
    expect(refused.code).toBe(2);
    expect(refused.out.trim()).toBe('vibe-curate: --host: a non-loopback address needs INFERENCE_API_KEY (or --allow-unauthenticated to serve anyone who can reach it)');
    let status = 0;
    const allowed = await run(['--port', '0', '--host', '0.0.0.0', '--allow-unauthenticated'], {}, async (url) => {
      status = (await fetch(`${url}/v1/models`)).status;
    });
    expect([allowed.code, status]).toEqual([0, 200]);
  });

  it('with INFERENCE_API_KEY it serves another host and requires the key', async () => {
    const seen: number[] = [];
    const { code, out } = await run(['--port', '0', '--host', '0.0.0.0'], { INFERENCE_API_KEY: 'cli-key' }, async (url) => {
      seen.push((await fetch(`${url}/v1/models`)).status);
      seen.push((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer cli-key' } })).status);
    });
    expect(code).toBe(0);
    expect(out).toContain('INFERENCE_API_KEY set');
    expect(seen).toEqual([401, 200]);
  });
});
