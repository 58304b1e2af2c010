import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore, sha256Hex } from '../../pipeline/blobs.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'vc-blobs-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('content-addressed blob store', () => {
  it('names a blob by its sha256 and reads it back', async () => {
    const store = new BlobStore(root);
    const bytes = Buffer.from('hello blob');
    const put = await store.put(bytes, 'jpg');
    expect(put.sha256).toBe(sha256Hex(bytes));
    expect(put.key).toBe(`${put.sha256.slice(0, 2)}/${put.sha256}.jpg`);
    expect(put.created).toBe(true);
    expect(await store.get(put.key)).toEqual(bytes);
  });

  it('is idempotent: a second write of the same bytes is a no-op', async () => {
    const store = new BlobStore(root);
    const bytes = Buffer.alloc(1000, 7);
    const a = await store.put(bytes, 'png');
    const b = await store.put(bytes, 'png');
    expect(b).toEqual({ ...a, created: false });
    expect(await readdir(path.join(root, a.sha256.slice(0, 2)))).toEqual([`${a.sha256}.png`]);
  });

  it('concurrent writers of the same bytes in several processes leave one whole file and no temp files', async () => {
    const bytes = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const script = path.join(root, 'writer.mts');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      script,
      `import { BlobStore } from ${JSON.stringify(path.resolve('pipeline/blobs.ts'))};
       const bytes = Buffer.alloc(${bytes.length}); for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
       const store = new BlobStore(${JSON.stringify(root)});
       const out = []; for (let i = 0; i < 5; i++) out.push(store.put(bytes, 'bin'));
       await Promise.all(out); process.send?.('ok');`,
    );
    const runs = Array.from({ length: 4 }, () =>
      new Promise<void>((resolve, reject) => {
        const child = fork(script, { execArgv: ['--import', 'tsx'], stdio: 'ignore' });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
      }),
    );
    // Meanwhile a reader looks at the final path: whenever it exists, it must hold the whole blob.
    const sha = sha256Hex(bytes);
    const dir = path.join(root, sha.slice(0, 2));
    let done = false;
    let seenWhole = 0;
    const reader = (async () => {
      for (let last = false; !last; ) {
        last = done;
        const got = await readFile(path.join(dir, `${sha}.bin`)).catch(() => null);
        if (got) {
          expect(got.length).toBe(bytes.length);
          expect(sha256Hex(got)).toBe(sha);
          seenWhole++;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all(runs).finally(() => {
      done = true;
    });
    await reader;
    expect(seenWhole).toBeGreaterThan(0);
    expect(await readdir(dir)).toEqual([`${sha}.bin`]);
    expect(sha256Hex(await readFile(path.join(dir, `${sha}.bin`)))).toBe(sha);
  });

  it('refuses keys that are not blob keys (no path traversal)', () => {
    const store = new BlobStore(root);
    expect(() => store.path('../etc/passwd')).toThrow(/not a blob key/);
    expect(() => store.path('ab/../../x.jpg')).toThrow(/not a blob key/);
  });
});
