/**
 * sha256 off the main thread: one shared worker hashes the chunks a shard writer hands it, so
 * hashing a shard overlaps with reading and writing the next chunk instead of adding to them.
 * Messages are handled in order, so `digest` sees every `update` sent before it. The worker is
 * unreferenced while idle: it never keeps a process alive.
 */
import { Worker } from 'node:worker_threads';

const CODE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  let h = hashes.get(m.id);
  if (!h) { h = createHash('sha256'); hashes.set(m.id, h); }
  if (m.op === 'update') {
    h.update(new Uint8Array(m.sab, m.off, m.len));
    parentPort.postMessage({ id: m.id, seq: m.seq });
  } else {
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, seq: m.seq, digest: h.digest('hex') });
  }
});`;

interface Reply {
  id: number;
  seq: number;
  digest?: string;
}

let worker: Worker | undefined;
let outstanding = 0;
let nextId = 0;
const waiting = new Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function getWorker(): Worker {
  if (worker) return worker;
  // plain CommonJS: no need for the parent's loader flags (tsx), which would slow its start
  const w = new Worker(CODE, { eval: true, execArgv: [] });
  w.unref();
  w.on('message', (r: Reply) => {
    const k = `${r.id}:${r.seq}`;
    const p = waiting.get(k);
    waiting.delete(k);
    if (--outstanding === 0) w.unref();
    p?.resolve(r);
  });
  w.on('error', (err) => {
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
    outstanding = 0;
    worker = undefined;
  });
  worker = w;
  return w;
}

function send(msg: { op: 'update' | 'digest'; id: number; seq: number; sab?: SharedArrayBuffer; off?: number; len?: number }): Promise<Reply> {
  const w = getWorker();
  return new Promise<Reply>((resolve, reject) => {
    waiting.set(`${msg.id}:${msg.seq}`, { resolve, reject });
    if (outstanding++ === 0) w.ref();
    w.postMessage(msg); // a SharedArrayBuffer is shared, not copied
  });
}

/** A sha256 computed in the shared worker. */
export class OffThreadSha256 {
  private readonly id = nextId++;
  private seq = 0;

  /**
   * Queues `len` bytes of `sab` from `off`; resolves when the worker has hashed them. The caller
   * must not change those bytes before then.
   */
  update(sab: SharedArrayBuffer, off: number, len: number): Promise<void> {
    return send({ op: 'update', id: this.id, seq: this.seq++, sab, off, len }).then(() => undefined);
  }

  /** The hex digest of everything queued before. */
  async digest(): Promise<string> {
    const r = await send({ op: 'digest', id: this.id, seq: this.seq++ });
    return r.digest!;
  }
}
