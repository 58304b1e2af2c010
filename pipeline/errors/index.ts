/**
 * Error classes shared by every stage. Each carries a stable `code`, the subject it is about
 * (a file, a field, a URL) and its `cause`, so a CLI can print one line and a worker can decide
 * whether a retry makes sense.
 */

export type ErrorCode =
  | 'BAD_INPUT' // the input itself is wrong: retrying never helps
  | 'BAD_CONFIG' // a configuration value is wrong
  | 'BAD_IMAGE' // an image that cannot be decoded, is truncated, too large, not an image
  | 'REMOTE_FINAL' // a remote server refused the request (4xx other than 429)
  | 'REMOTE_RETRYABLE' // 5xx, timeout, connection reset
  | 'RATE_LIMITED' // 429/503 with an optional retry-after
  | 'JUDGE_REPLY' // a judge reply that cannot be parsed or is out of range
  | 'NOT_FOUND'
  | 'INTERNAL';

export class VibeError extends Error {
  readonly code: ErrorCode;
  /** What the error is about: a file path, a field name, a URL. Printed first on the CLI. */
  readonly subject?: string;

  constructor(code: ErrorCode, message: string, opts: { subject?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.subject = opts.subject;
  }

  /** One line, `subject: message`, for the CLI and the failures table. */
  oneLine(): string {
    const text = this.subject ? `${this.subject}: ${this.message}` : this.message;
    return text.replace(/\s*\n\s*/g, ' ');
  }
}

/** Bad usage or bad input: exit code 2, never retried. */
export class InputError extends VibeError {
  constructor(message: string, opts: { subject?: string; cause?: unknown } = {}) {
    super('BAD_INPUT', message, opts);
  }
}

/** A configuration value that does not parse: `KEY=value: why`. */
export class ConfigError extends VibeError {
  constructor(message: string, opts: { subject?: string; cause?: unknown } = {}) {
    super('BAD_CONFIG', message, opts);
  }
}

/** An image that cannot be used (corrupt, truncated, too many pixels, not an image). */
export class ImageError extends VibeError {
  constructor(message: string, opts: { subject?: string; cause?: unknown } = {}) {
    super('BAD_IMAGE', message, opts);
  }
}

/** A remote server (inference core, judge) failed. `retryable` says whether to try again. */
export class RemoteError extends VibeError {
  readonly status?: number;
  /** Milliseconds the server asked us to wait (429/503 `retry-after`). */
  readonly retryAfterMs?: number;

  constructor(
    code: 'REMOTE_FINAL' | 'REMOTE_RETRYABLE' | 'RATE_LIMITED',
    message: string,
    opts: { subject?: string; cause?: unknown; status?: number; retryAfterMs?: number } = {},
  ) {
    super(code, message, opts);
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * A remote server asked us to slow down (429/503), with the wait it asked for when it said one.
 * The HTTP clients throw it; the queue's processor (workers/processor.ts) turns it into a queue
 * rate limit, so the clients know nothing of the queue.
 */
export class RateLimitError extends RemoteError {
  constructor(message: string, opts: { subject?: string; cause?: unknown; status?: number; retryAfterMs?: number } = {}) {
    super('RATE_LIMITED', message, opts);
  }
}

/** The wait a 429/503 reply asks for, in ms: `retry-after-ms`, else `retry-after` (seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A judge reply that could not be turned into scores. Carries the raw text for the record. */
export class JudgeReplyError extends VibeError {
  readonly raw: string;
  constructor(message: string, raw: string, opts: { subject?: string; cause?: unknown } = {}) {
    super('JUDGE_REPLY', message, opts);
    this.raw = raw;
  }
}

/**
 * Whether the job queue should run a job again after `err`. One layer owns each retry: the HTTP
 * clients of the inference core and the judge retry transport errors, timeouts, 5xx, bad image
 * bytes and bad judge replies themselves, within INFERENCE_MAX_ATTEMPTS / JUDGE_MAX_ATTEMPTS
 * calls, so what they throw has spent its budget and is final for the job. The queue retries
 * only what no client retried (the database, the blob store, an unexpected throw) and re-runs
 * jobs whose worker died. Rate limits (429/503) wait on the queue instead, a bounded number of
 * times (workers/processor.ts).
 */
export function retriedByQueue(err: unknown): boolean {
  if (!(err instanceof VibeError)) return true;
  switch (err.code) {
    case 'BAD_INPUT':
    case 'BAD_CONFIG':
    case 'BAD_IMAGE':
    case 'REMOTE_FINAL':
    case 'NOT_FOUND':
    case 'REMOTE_RETRYABLE': // the client's attempts are spent
    case 'JUDGE_REPLY':
      return false;
    case 'RATE_LIMITED':
    case 'INTERNAL':
      return true;
    default: {
      const never: never = err.code;
      return never;
    }
  }
}

/** Exit code for the CLI: 2 for bad usage or input, 1 for a run-time failure. */
export function exitCodeFor(err: unknown): 1 | 2 {
  if (err instanceof VibeError && ['BAD_INPUT', 'BAD_CONFIG', 'BAD_IMAGE'].includes(err.code)) return 2;
  return 1;
}

/** A one-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof VibeError) return err.oneLine();
  if (err instanceof Error && /^Failed query:/.test(err.message) && err.cause instanceof Error) {
    // drizzle's wrapper quotes the whole statement; the cause says what went wrong
    return `database query failed: ${err.cause.message.replace(/\s*\n\s*/g, ' ')}`;
  }
  if (err instanceof Error) return err.message.replace(/\s*\n\s*/g, ' ');
  return String(err);
}

/** Masks the password of a URL-like string (`postgres://user:***@host/db`), parseable or not. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^/@:]*:)[^@]*@/, '$1***@').replace(/^([^/@:]*:)[^/@]*@/, '$1***@');
  }
}
