/**
 * The dashboard's defences against hostile pages and hostile input, as hono middleware:
 * - no-token mode answers only loopback Host names (DNS rebinding gets 421);
 * - state-changing requests must come from the dashboard's own origin (Origin and
 *   Sec-Fetch-Site checked, 403 otherwise) and carry JSON when they carry a body (415);
 * - every body has a size limit: a declared Content-Length over it gets 413 before a byte is
 *   read, a chunked body is counted as it streams and cut off at the limit;
 * - every response carries a Content-Security-Policy, nosniff and a Referrer-Policy.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { MiddlewareHandler } from 'hono';

/** CSP directives, one list of sources each; extend a page's policy by adding sources here. */
export type CspDirectives = Record<string, readonly string[]>;

/**
 * The pages' policy: everything from the dashboard itself, nothing inline, no frames. A feature
 * that needs more (e.g. WASM: script-src 'wasm-unsafe-eval'; a worker from a blob: worker-src
 * blob:) adds it with `withCsp(DASHBOARD_CSP, {...})` where the policy is applied.
 */
export const DASHBOARD_CSP: CspDirectives = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'worker-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/**
 * bull-board's page at /queues: its bundle is served from 'self', but its loading screen uses
 * inline style attributes and a <style> element, and its icons are data: images.
 */
export const QUEUES_CSP: CspDirectives = withCsp(DASHBOARD_CSP, {
  'style-src': ["'unsafe-inline'"],
  'img-src': ['data:'],
  'base-uri': ["'self'"],
  'frame-ancestors': ["'self'"],
});

/** `base` with `extra` sources added to its directives (new directives are created). */
export function withCsp(base: CspDirectives, extra: CspDirectives): CspDirectives {
  const out: Record<string, readonly string[]> = { ...base };
  for (const [k, v] of Object.entries(extra)) out[k] = [...new Set([...(out[k] ?? []), ...v])];
  return out;
}

/** The header value of a policy. */
export function cspHeader(d: CspDirectives): string {
  return Object.entries(d)
    .map(([k, v]) => `${k} ${v.join(' ')}`)
    .join('; ');
}

/** CSP, X-Content-Type-Options and Referrer-Policy on every response; /queues gets QUEUES_CSP. */
export function securityHeaders(policies: { pages: CspDirectives; queues: CspDirectives } = { pages: DASHBOARD_CSP, queues: QUEUES_CSP }): MiddlewareHandler {
  const pages = cspHeader(policies.pages);
  const queues = cspHeader(policies.queues);
  return async (c, next) => {
    await next();
    const board = c.req.path === '/queues' || c.req.path.startsWith('/queues/');
    c.header('Content-Security-Policy', board ? queues : pages);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    if (!board) c.header('X-Frame-Options', 'DENY');
  };
}

/** Host names the dashboard answers in no-token mode: loopback only, any port. */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;

/** Whether a Host header value names the loopback interface (127.0.0.1, localhost, [::1], with or without a port). */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOST.test(host);
}

/**
 * No-token mode: anything but a loopback Host gets 421, so a DNS-rebinding page (whose requests
 * say `Host: evil.example`) can neither read nor write.
 */
export function loopbackHostOnly(): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    if (!isLoopbackHost(host)) {
      return c.json({ error: `Host ${JSON.stringify(host.slice(0, 100))}: without DASHBOARD_TOKEN the dashboard answers only 127.0.0.1, localhost and [::1]` }, 421);
    }
    await next();
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * State-changing requests (any method but GET, HEAD, OPTIONS) must come from the dashboard's own
 * origin: an `Origin` header must name the host the request was sent to, and `Sec-Fetch-Site`,
 * where the browser sends it, must be `same-origin` (or `none`, a user's own action). Clients
 * that send neither (curl, scripts) are not browsers a hostile page can drive.
 */
export function sameOriginWrites(): MiddlewareHandler {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return c.json({ error: `Sec-Fetch-Site: ${site.slice(0, 40)}: state-changing requests must come from the dashboard's own pages` }, 403);
    }
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const own = c.req.header('host') ?? new URL(c.req.url).host;
      let host: string | undefined;
      try {
        const u = new URL(origin);
        if (u.protocol === 'http:' || u.protocol === 'https:') host = u.host;
      } catch {
        host = undefined; // "null" and other opaque origins
      }
      if (host === undefined || host.toLowerCase() !== own.toLowerCase()) {
        return c.json({ error: `Origin ${origin.slice(0, 100)}: state-changing requests must come from the dashboard's own origin` }, 403);
      }
    }
    await next();
  };
}

/** Body size limits by path prefix, first match wins; `fallback` for every other path. */
export interface BodyLimits {
  rules: readonly { prefix: string; maxBytes: number }[];
  fallback: number;
}

/** /login 64 KiB, a bulk review 64 KiB, the rest of /api 1 MiB, anything else 64 KiB. */
export const DEFAULT_BODY_LIMITS: BodyLimits = {
  rules: [
    { prefix: '/login', maxBytes: 64 * 1024 },
    { prefix: '/api/reviews/bulk', maxBytes: 64 * 1024 },
    { prefix: '/api/', maxBytes: 1024 * 1024 },
  ],
  fallback: 64 * 1024,
};

function limitFor(limits: BodyLimits, path: string): number {
  return limits.rules.find((r) => path === r.prefix || path.startsWith(r.prefix))?.maxBytes ?? limits.fallback;
}

/** How long a connection whose body was refused is drained (bytes discarded) before it is closed. */
const LINGER_MS = 2_000; // 2 s

/**
 * A lingering close for a refused body, so a client still sending reads the 413. Node closes a
 * connection whose request body was not read as soon as the answer is written; the bytes still
 * arriving then meet a closed socket, the kernel answers with a reset, and the reset can discard
 * the 413 before the client has read it. Here the socket half-closes after the answer (FIN), the
 * bytes that still arrive are discarded (never buffered), and it is destroyed LINGER_MS later.
 */
function lingerThenClose(env: unknown): void {
  const incoming = (env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || incoming.destroyed) return;
  const socket = incoming.socket;
  incoming.on('data', () => {});
  socket.on('data', () => {}); // after the parser lets go of the socket
  socket.destroySoon = function lingeringClose(this: Socket) {
    this.end();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
  };
}

/**
 * Enforces the body limit of each path. A Content-Length over it gets 413 at once (the body is
 * never read, the connection is closed); a body without one (chunked) is read up to the limit
 * and cut off with 413 past it; a body within the limit is handed on, already buffered. A
 * non-empty body of a state-changing request must be JSON (415 otherwise): a page on another
 * site can send text/plain and forms without asking the server first, never JSON.
 */
export function bodyLimits(limits: BodyLimits = DEFAULT_BODY_LIMITS): MiddlewareHandler {
  return async (c, next) => {
    const max = limitFor(limits, c.req.path);
    const tooLarge = () => {
      c.header('Connection', 'close');
      lingerThenClose(c.env);
      return c.json({ error: `request body: larger than the ${max}-byte limit of ${c.req.path}` }, 413);
    };
    const declared = c.req.header('content-length');
    if (declared !== undefined && !(Number(declared) <= max)) return tooLarge();
    const raw = c.req.raw;
    if (SAFE_METHODS.has(c.req.method) || !raw.body) return next();
    const reader = raw.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
    const body = Buffer.concat(chunks);
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (body.byteLength > 0 && type !== 'application/json') {
      return c.json({ error: `Content-Type ${JSON.stringify(type || 'none')}: expected application/json` }, 415);
    }
    const headers = new Headers(raw.headers);
    headers.delete('transfer-encoding');
    headers.set('content-length', String(body.byteLength));
    c.req.raw = new Request(raw.url, { method: raw.method, headers, body, signal: raw.signal });
    await next();
  };
}
