/**
 * Access to the dashboard. With a token configured every request must carry it, either as
 * `Authorization: Bearer TOKEN` or as the session cookie the login page sets (the cookie holds
 * an HMAC of the token, never the token itself); otherwise API calls get 401 and pages are
 * redirected to /login. The reviewer's name comes from the login form (cookie `vc_reviewer`),
 * an `X-Reviewer` header, or defaults to 'anonymous' ('token' for bearer calls).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { z } from 'zod';

export const SESSION_COOKIE = 'vc_session';
export const REVIEWER_COOKIE = 'vc_reviewer';

/** Variables the auth middleware sets on every request. */
export interface AuthVars {
  reviewer: string;
}

const reviewerName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{N} ._@-]+$/u, 'letters, digits, space . _ @ - only');

function sessionValue(token: string): string {
  return createHmac('sha256', token).update('vibe-curate dashboard session v1').digest('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether the request carries the token (bearer header or session cookie). */
export function isAuthorised(c: Context, token: string | undefined): boolean {
  if (!token) return true;
  const bearer = bearerOf(c);
  if (bearer !== undefined && sameSecret(bearer, token)) return true;
  const cookie = getCookie(c, SESSION_COOKIE);
  return cookie !== undefined && sameSecret(cookie, sessionValue(token));
}

/** The credentials of an `Authorization: Bearer …` header (the scheme in any case), if any. */
export function bearerOf(c: Context): string | undefined {
  const m = /^bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
  return m?.[1];
}

function reviewerOf(c: Context, token: string | undefined): string {
  const header = reviewerName.safeParse(c.req.header('x-reviewer') ?? '');
  if (header.success) return header.data;
  const cookie = reviewerName.safeParse(getCookie(c, REVIEWER_COOKIE) ?? '');
  if (cookie.success) return cookie.data;
  if (token && bearerOf(c) !== undefined) return 'token';
  return 'anonymous';
}

/** Paths reachable without the token: the login page, its script and its stylesheet. */
const OPEN = new Set(['/login', '/static/login.js', '/static/style.css', '/favicon.ico']);

/** The gate: 401 for API-like paths, a redirect to /login for pages. Sets `reviewer`. */
export function authMiddleware(token: string | undefined): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    const path = c.req.path;
    if (token && !OPEN.has(path) && !isAuthorised(c, token)) {
      const wantsPage =
        c.req.method === 'GET' &&
        (c.req.header('accept') ?? '').includes('text/html') &&
        !path.startsWith('/api/') &&
        !path.startsWith('/exports/') &&
        path !== '/metrics';
      if (wantsPage) return c.redirect(`/login?next=${encodeURIComponent(path)}`, 302);
      c.header('WWW-Authenticate', 'Bearer realm="vibe-curate"');
      return c.json({ error: 'unauthorised: send Authorization: Bearer DASHBOARD_TOKEN or log in at /login' }, 401);
    }
    c.set('reviewer', reviewerOf(c, token));
    await next();
  };
}

const loginForm = z.object({
  token: z.string().max(4096).optional().default(''),
  name: z.string().max(64).optional().default(''),
  next: z.string().max(2048).optional().default('/'),
});

/** A local path to go back to after login (never another origin). */
function safeNext(next: string): string {
  return /^\/(?!\/)[\w\-./?=&%]*$/.test(next) && !next.startsWith('/login') ? next : '/';
}

function loginPage(opts: { next: string; error?: string; tokenRequired: boolean; name: string }): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · vibe-curate</title><link rel="stylesheet" href="/static/style.css">
<script type="module" src="/static/login.js"></script></head>
<body class="login-body"><main class="login-card">
<h1>vibe-curate</h1><p class="muted">Review dashboard</p>
<p class="error" role="alert"${opts.error ? '' : ' hidden'}>${esc(opts.error ?? '')}</p>
<form method="post" action="/login" id="login">
<input type="hidden" name="next" value="${esc(opts.next)}">
<label>Your name (shown in the audit trail)<input name="name" autocomplete="username" value="${esc(opts.name)}" placeholder="anonymous"></label>
${opts.tokenRequired ? '<label>Access token<input name="token" type="password" autocomplete="current-password" required></label>' : ''}
<button type="submit">Log in</button>
</form></main></body></html>`;
}

/** GET/POST /login and POST /logout. */
export function loginRoutes(token: string | undefined): Hono<{ Variables: AuthVars }> {
  const app = new Hono<{ Variables: AuthVars }>();
  app.get('/login', (c) =>
    c.html(loginPage({ next: safeNext(c.req.query('next') ?? '/'), tokenRequired: Boolean(token), name: getCookie(c, REVIEWER_COOKIE) ?? '' })),
  );
  // JSON only (the login page's script sends it): a page on another site cannot post JSON
  // without asking first, so it can neither log a browser in nor set the reviewer's name.
  app.post('/login', async (c) => {
    const parsed = loginForm.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) return c.json({ error: 'expected a JSON object {name, token, next}' }, 400);
    const { name, next } = parsed.data;
    const where = safeNext(next);
    if (token && !sameSecret(parsed.data.token, token)) return c.json({ error: 'wrong token' }, 401);
    const who = reviewerName.safeParse(name);
    if (name.trim() !== '' && !who.success) return c.json({ error: `name: ${who.error.issues[0]!.message}` }, 400);
    const secure = new URL(c.req.url).protocol === 'https:';
    if (token) setCookie(c, SESSION_COOKIE, sessionValue(token), { httpOnly: true, sameSite: 'Strict', path: '/', secure, maxAge: 30 * 24 * 3600 });
    if (who.success) setCookie(c, REVIEWER_COOKIE, who.data, { httpOnly: true, sameSite: 'Strict', path: '/', secure, maxAge: 365 * 24 * 3600 });
    else deleteCookie(c, REVIEWER_COOKIE, { path: '/' });
    return c.json({ next: where, reviewer: who.success ? who.data : 'anonymous' });
  });
  app.post('/logout', (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
  return app;
}
