/**
 * The VLM judge client: one rubric, one OpenAI-compatible `POST {url}/v1/chat/completions`
 * (vLLM, SGLang, Ollama, OpenAI). Sends the rubric prompt and the source and edit as JPEG data
 * URLs, `temperature: 0` and a strict `json_schema` generated from the zod schema that then
 * validates the reply. A bad reply is retried and finally returned as a failed judgment with the
 * raw text; transport failures are retried and finally thrown as RemoteError. Never a made-up score.
 *
 * Plain fetch rather than the `openai` SDK (a dev dependency, used by the tests as a reference
 * client): the judge is usually a local vLLM/SGLang/Ollama with no API key, which the SDK refuses
 * to run without; the SDK also reads OPENAI_* variables (base URL, organization, extra headers)
 * meant for other tools; and the retry policy — one attempt budget shared with bad replies, a long
 * 429 handed to the queue (RateLimitError) — is this client's own, so the SDK would add only the
 * JSON parsing.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { ConfigError, ImageError, parseRetryAfter, RateLimitError, RemoteError, describeError } from '../errors/index.ts';
import type { Judge, JudgeInput, Judgment } from './types.ts';
import type { VlmRubric } from './rubrics/types.ts';
import { judgeCalls } from '../metrics.ts';
import { sleep } from '../sleep.ts';
import { DEFAULT_MAX_PIXELS } from '../images.ts';

export interface VlmClientOptions {
  /** First retry delay for 5xx, timeouts and connection errors, doubled per attempt (ms). */
  backoffMs?: number;
  /** Longest `retry-after` the client sleeps itself; a longer one is thrown at once as RATE_LIMITED so the queue can slow down (ms). */
  maxRetryAfterWaitMs?: number;
  /** JPEG quality of the images sent (1–100). */
  jpegQuality?: number;
  /** Pixel limit for decoding the input images (decompression-bomb guard). */
  maxImagePixels?: number;
}

type JudgeCfg = Config['judge'];

/** Resizes to `longSide` (never enlarging), applies EXIF orientation, encodes JPEG, returns a data URL. */
export async function toDataUrl(bytes: Buffer, longSide: number, what: string, opts: { quality?: number; maxPixels?: number } = {}): Promise<string> {
  try {
    const jpeg = await sharp(bytes, { failOn: 'error', limitInputPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS })
      .autoOrient()
      .resize({ width: longSide, height: longSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: opts.quality ?? 90 })
      .toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  } catch (err) {
    throw new ImageError(`not a decodable image (${describeError(err)})`, { subject: what, cause: err });
  }
}

/** Source data URLs a judge keeps (each a few hundred KB at the default long side). */
const SOURCE_URLS_KEPT = 8;

/** The JSON schema sent as `response_format.json_schema.schema`, generated from the reply's zod schema. */
export function replyJsonSchema(rubric: VlmRubric): Record<string, unknown> {
  const { $schema: _drop, ...schema } = z.toJSONSchema(rubric.replySchema) as Record<string, unknown>;
  return schema;
}

/** Extracts the reply text: string content, the text parts of array content, or the refusal. */
function replyText(body: unknown): string | null {
  const msg = (body as { choices?: { message?: { content?: unknown; refusal?: unknown } }[] })?.choices?.[0]?.message;
  if (!msg) return null;
  if (typeof msg.content === 'string') return msg.content;
  if (Array.isArray(msg.content)) {
    return msg.content.map((p: unknown) => (typeof (p as { text?: unknown })?.text === 'string' ? (p as { text: string }).text : '')).join('');
  }
  if (typeof msg.refusal === 'string') return msg.refusal;
  return null;
}

/** Parses and validates a reply: Record of the rubric's raw scores, or a one-line reason. */
export function parseReply(rubric: VlmRubric, text: string): { ok: true; raw: Record<string, number> } | { ok: false; error: string } {
  const unfenced = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '');
  let value: unknown;
  try {
    value = JSON.parse(unfenced);
  } catch (err) {
    return { ok: false, error: `reply is not JSON (${describeError(err)})` };
  }
  const parsed = rubric.replySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(reply)';
    return { ok: false, error: `reply field ${field}: ${issue.message}` };
  }
  const raw: Record<string, number> = {};
  for (const name of rubric.rawNames) raw[name] = parsed.data[name] as number;
  return { ok: true, raw };
}

/** The judge_calls outcome of a failed call. */
function callOutcome(err: RemoteError): string {
  return err instanceof RateLimitError ? 'rate_limited' : err.code === 'REMOTE_FINAL' ? 'refused' : 'error';
}

const oneLine = (s: string, max = 200) => s.replace(/\s+/g, ' ').trim().slice(0, max);

interface Reply {
  text: string | null;
  promptTokens?: number;
  completionTokens?: number;
}

/**
 * A Judge that asks the VLM at `cfg.url` with `rubric`. `cfg.maxAttempts` bounds the requests
 * per judgment (bad replies and transport retries share it); `cfg.concurrency` bounds requests
 * in flight from this judge; `cfg.timeoutMs` bounds each request.
 */
export function createVlmJudge(cfg: JudgeCfg, rubric: VlmRubric, opts: VlmClientOptions = {}): Judge {
  if (!cfg.url) throw new ConfigError('no judge URL configured', { subject: 'JUDGE_URL' });
  const endpoint = `${cfg.url.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/chat/completions`;
  const backoffMs = opts.backoffMs ?? 500;
  const maxWait = opts.maxRetryAfterWaitMs ?? 10_000;
  const gate = pLimit(cfg.concurrency);
  const schema = replyJsonSchema(rubric);

  async function post(body: string, signal?: AbortSignal): Promise<Reply> {
    const timeout = AbortSignal.timeout(cfg.timeoutMs);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (cfg.apiKey) headers.authorization = `Bearer ${cfg.apiKey}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(endpoint, { method: 'POST', headers, body, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const why = timeout.aborted ? `timed out after ${cfg.timeoutMs} ms` : describeError((err as { cause?: unknown }).cause ?? err);
      throw new RemoteError('REMOTE_RETRYABLE', `POST ${endpoint}: ${why}`, { subject: 'judge', cause: err });
    }
    if (!res.ok) {
      let detail = oneLine(text);
      try {
        const m = (JSON.parse(text) as { error?: { message?: unknown } })?.error?.message;
        if (typeof m === 'string') detail = oneLine(m);
      } catch {
        /* not JSON: keep the text */
      }
      const msg = `POST ${endpoint}: HTTP ${res.status}${detail ? ` ${detail}` : ''}`;
      if (res.status === 429 || res.status === 503) {
        throw new RateLimitError(msg, { subject: 'judge', status: res.status, retryAfterMs: parseRetryAfter(res.headers) });
      }
      throw new RemoteError(res.status >= 500 ? 'REMOTE_RETRYABLE' : 'REMOTE_FINAL', msg, { subject: 'judge', status: res.status });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RemoteError('REMOTE_RETRYABLE', `POST ${endpoint}: response body is not JSON: ${oneLine(text, 80)}`, { subject: 'judge' });
    }
    const usage = (json as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } }).usage;
    return {
      text: replyText(json),
      promptTokens: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : undefined,
      completionTokens: typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : undefined,
    };
  }

  // The K candidates of a request share one source, usually judged back to back: its data URL is
  // kept for the last few sources (by content hash), so it is resized and encoded once, not K times.
  const sources = new Map<string, Promise<string>>();
  const sourceUrl = (bytes: Buffer, imgOpts: { quality?: number; maxPixels?: number }) => {
    const key = createHash('sha256').update(bytes).digest('hex');
    let url = sources.get(key);
    if (url) sources.delete(key);
    else {
      url = toDataUrl(bytes, cfg.imageLongSide, 'source', imgOpts);
      url.catch(() => sources.delete(key));
    }
    sources.set(key, url); // most recently used last
    while (sources.size > SOURCE_URLS_KEPT) sources.delete(sources.keys().next().value!);
    return url;
  };

  async function judge(input: JudgeInput): Promise<Judgment> {
    const t0 = performance.now();
    const imgOpts = { quality: opts.jpegQuality, maxPixels: opts.maxImagePixels };
    const [src, edit] = await Promise.all([sourceUrl(input.source, imgOpts), toDataUrl(input.edit, cfg.imageLongSide, 'edit', imgOpts)]);
    const body = JSON.stringify({
      model: cfg.model,
      temperature: 0,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: rubric.renderPrompt(input.instruction, input.category) },
            { type: 'image_url', image_url: { url: src } },
            { type: 'image_url', image_url: { url: edit } },
          ],
        },
      ],
      response_format: { type: 'json_schema', json_schema: { name: rubric.schemaName, strict: true, schema } },
    });
    const base = { rubric: rubric.id, model: cfg.model, promptHash: rubric.promptHash };
    let usage: { promptTokens?: number; completionTokens?: number } | undefined;
    for (let attempt = 1; attempt <= cfg.maxAttempts; attempt++) {
      let reply: Reply;
      try {
        reply = await gate(() => post(body, input.signal));
      } catch (err) {
        if (!input.signal?.aborted) judgeCalls.inc({ outcome: err instanceof RemoteError ? callOutcome(err) : 'error' });
        if (!(err instanceof RemoteError) || err.code === 'REMOTE_FINAL' || attempt === cfg.maxAttempts) throw err;
        const wait = err instanceof RateLimitError ? (err.retryAfterMs ?? backoffMs * 2 ** (attempt - 1)) : backoffMs * 2 ** (attempt - 1);
        if (err instanceof RateLimitError && wait > maxWait) throw err;
        await sleep(wait, input.signal);
        continue;
      }
      if (reply.promptTokens !== undefined || reply.completionTokens !== undefined) {
        usage = {
          promptTokens: reply.promptTokens === undefined ? usage?.promptTokens : (usage?.promptTokens ?? 0) + reply.promptTokens,
          completionTokens: reply.completionTokens === undefined ? usage?.completionTokens : (usage?.completionTokens ?? 0) + reply.completionTokens,
        };
      }
      const rawReply = reply.text;
      const parsed = reply.text === null ? { ok: false as const, error: 'reply has no message content' } : parseReply(rubric, reply.text);
      judgeCalls.inc({ outcome: parsed.ok ? 'ok' : 'bad_reply' });
      if (parsed.ok) {
        const scores = rubric.score(parsed.raw);
        return { ...base, ok: true, latencyMs: Math.round(performance.now() - t0), attempts: attempt, rawReply, usage, rawScores: parsed.raw, ...scores };
      }
      if (attempt === cfg.maxAttempts) {
        return { ...base, ok: false, latencyMs: Math.round(performance.now() - t0), attempts: attempt, rawReply, usage, error: `no valid reply after ${attempt} attempts: ${parsed.error}` };
      }
    }
    throw new Error('unreachable: the attempt loop always returns or throws');
  }

  return { model: cfg.model, rubric, judge };
}
