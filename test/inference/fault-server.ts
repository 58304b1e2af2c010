/**
 * A real HTTP server on 127.0.0.1 that plays an inference core with scripted faults: each hit
 * takes the next behaviour from a script (the last one repeats); `GET /health` always answers 200.
 * It counts edit hits and keeps the fields of each request, so tests can bound attempts and check what the client sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { sleep } from '../../pipeline/sleep.ts';

export type Behaviour =
  | 'ok' // n valid JPEGs
  | 'fewer' // one image fewer than asked
  | 'truncated-jpeg' // JPEG cut in half (no FFD9)
  | 'truncated-png' // PNG cut in half
  | 'non-image' // b64 of text
  | 'bad-json' // 200 with an HTML page
  | 'cut-body' // headers promise more bytes than come, then the socket closes
  | 'reset' // socket destroyed before any reply
  | { slowMs: number } // waits, then answers ok
  | { delayMs: number } // fixed latency, then ok (benchmarks)
  | { status: number; headers?: Record<string, string>; message?: string };

export interface SentFields {
  prompt: string;
  n: number;
  seed: number;
  model: string;
  response_format: string;
  imageBytes: number;
  extra: Record<string, string>;
  authorization?: string;
}

export interface FaultServer {
  url: string;
  hits: number;
  requests: SentFields[];
  /** Replaces the script; hits are not reset. */
  script(behaviours: Behaviour[]): void;
  close(): Promise<void>;
}

let tinyJpeg: Buffer | undefined;
let tinyPng: Buffer | undefined;

async function images(): Promise<{ jpeg: Buffer; png: Buffer }> {
  const base = sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 120, b: 40 } } });
  tinyJpeg ??= await base.clone().jpeg({ quality: 80 }).toBuffer();
  tinyPng ??= await base.clone().png().toBuffer();
  return { jpeg: tinyJpeg, png: tinyPng };
}

async function readFields(req: http.IncomingMessage): Promise<SentFields> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const form = await new Response(Buffer.concat(chunks) as Uint8Array<ArrayBuffer>, { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData();
  const text = (k: string) => {
    const v = form.get(k);
    return typeof v === 'string' ? v : '';
  };
  const image = form.get('image');
  const extra: Record<string, string> = {};
  form.forEach((v, k) => {
    if (!['prompt', 'n', 'seed', 'model', 'response_format', 'image'].includes(k) && typeof v === 'string') extra[k] = v;
  });
  return {
    prompt: text('prompt'),
    n: Number(text('n')),
    seed: Number(text('seed')),
    model: text('model'),
    response_format: text('response_format'),
    imageBytes: image instanceof Blob ? image.size : -1,
    extra,
    ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
  };
}

export async function startFaultServer(initial: Behaviour[] = ['ok']): Promise<FaultServer> {
  const { jpeg, png } = await images();
  let behaviours = initial;
  let step = 0;
  const sockets = new Set<import('node:net').Socket>();

  const state = {
    url: '',
    hits: 0,
    requests: [] as SentFields[],
    script(b: Behaviour[]) {
      behaviours = b;
      step = 0;
    },
    close: async () => {},
  };

  const reply = (res: http.ServerResponse, n: number, seed: number, bytes: (i: number) => Buffer) => {
    const data = Array.from({ length: n }, (_, i) => ({ b64_json: bytes(i).toString('base64'), vibe: { op: 'fault-test', seed: seed + i } }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ created: 0, data }));
  };

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    state.hits++;
    const b = behaviours[Math.min(step++, behaviours.length - 1)]!;
    void (async () => {
      if (b === 'reset') {
        req.socket.destroy();
        return;
      }
      const fields = await readFields(req);
      state.requests.push(fields);
      const { n, seed } = fields;
      if (typeof b === 'object' && 'status' in b) {
        const body = JSON.stringify({ error: { message: b.message ?? `scripted ${b.status}`, type: 'invalid_request_error', code: null } });
        res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers }).end(body);
        return;
      }
      if (typeof b === 'object') {
        await sleep('slowMs' in b ? b.slowMs : b.delayMs);
        if (!res.destroyed) reply(res, n, seed, () => jpeg);
        return;
      }
      switch (b) {
        case 'ok':
          return reply(res, n, seed, () => jpeg);
        case 'fewer':
          return reply(res, n - 1, seed, () => jpeg);
        case 'truncated-jpeg':
          return reply(res, n, seed, (i) => (i === n - 1 ? jpeg.subarray(0, jpeg.length >> 1) : jpeg));
        case 'truncated-png':
          return reply(res, n, seed, () => png.subarray(0, png.length >> 1));
        case 'non-image':
          return reply(res, n, seed, () => Buffer.from('definitely not an image'));
        case 'bad-json':
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>proxy error</body></html>');
          return;
        case 'cut-body': {
          const body = JSON.stringify({ created: 0, data: [{ b64_json: jpeg.toString('base64') }] });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
          res.write(body.slice(0, body.length >> 1), () => res.socket?.destroy());
          return;
        }
      }
    })().catch(() => res.socket?.destroy());
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return state;
}
