/**
 * A real HTTP server in front of the built-in inference core that misbehaves on purpose:
 * answers 500, hangs (the client times out), 429 with retry-after, or 400, as the test decides
 * per call. Everything else is forwarded to the built-in core.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startInferenceServer } from '../../pipeline/builtin/inference-server.ts';

export type Fault = 'ok' | 'error500' | 'hang' | 'rate429' | 'refuse400';

export interface FlakyServer {
  url: string;
  /** Calls to /v1/images/edits by the fault they got. */
  counts: Record<Fault, number>;
  close(): Promise<void>;
}

/** `decide(prompt, n)` picks the fault of the n-th edit call (0-based). */
export async function startFlakyInference(decide: (prompt: string, call: number) => Fault): Promise<FlakyServer> {
  const upstream = await startInferenceServer({ port: 0 });
  const counts: Record<Fault, number> = { ok: 0, error500: 0, hang: 0, rate429: 0, refuse400: 0 };
  const hung = new Set<ServerResponse>();
  let calls = 0;
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const json = (status: number, obj: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(obj));
        };
        if (req.method === 'POST' && req.url?.startsWith('/v1/images/edits')) {
          const prompt = /name="prompt"\r\n\r\n([^\r]*)/.exec(body.toString('latin1'))?.[1] ?? '';
          const fault = decide(prompt, calls++);
          counts[fault]++;
          if (fault === 'error500') return json(500, { error: { message: 'injected failure', type: 'server_error', code: 'injected' } });
          if (fault === 'refuse400') return json(400, { error: { message: 'injected refusal', type: 'invalid_request_error', code: 'injected' } });
          if (fault === 'rate429') return json(429, { error: { message: 'slow down', type: 'rate_limit', code: 'rate_limited' } }, { 'retry-after-ms': '300' });
          if (fault === 'hang') {
            hung.add(res);
            res.on('close', () => hung.delete(res));
            return;
          }
        }
        const up = await fetch(`${upstream.url}${req.url}`, {
          method: req.method,
          headers: { 'content-type': String(req.headers['content-type'] ?? 'application/octet-stream') },
          body: req.method === 'POST' ? body : undefined,
        });
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
        res.end(Buffer.from(await up.arrayBuffer()));
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    counts,
    async close() {
      for (const r of hung) r.destroy();
      await new Promise<void>((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      });
      await upstream.close();
    },
  };
}
