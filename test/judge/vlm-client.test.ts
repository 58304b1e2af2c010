/**
 * The VLM judge client against a real HTTP server on 127.0.0.1 playing an OpenAI-compatible
 * `/v1/chat/completions` VLM: what is sent, how replies are validated and retried, and how
 * rate limits and failures surface.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../pipeline/config.ts';
import { RateLimitError, RemoteError } from '../../pipeline/errors/index.ts';
import { getRubric, isVlmRubric } from '../../pipeline/judge/rubrics/index.ts';
import { createVlmJudge, replyJsonSchema } from '../../pipeline/judge/vlm.client.ts';
import type { VlmRubric } from '../../pipeline/judge/rubrics/types.ts';
import { createJudge } from '../../workers/judges.ts';

interface Seen {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  url: string;
}
type Handler = (req: Seen, res: ServerResponse, n: number) => void | Promise<void>;

let server: Server;
let baseUrl: string;
let handler: Handler;
let seen: Seen[] = [];
/** Responses of the current test not yet closed (a Set: a late close from an earlier test removes nothing of this one's). */
let open = new Set<ServerResponse>();
let maxInFlight = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      open.add(res);
      maxInFlight = Math.max(maxInFlight, open.size);
      const s: Seen = { headers: req.headers, url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> };
      seen.push(s);
      res.on('close', () => open.delete(res));
      await handler(s, res, seen.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const fixture = (name: string) => readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url));
const source = fixture('chelsea.png');
const edit = fixture('coffee.png');

function cfg(over: Partial<Config['judge']> = {}): Config['judge'] {
  return { url: baseUrl, model: 'test-vlm', apiKey: 'sk-test', rubric: 'viescore-v1', timeoutMs: 5_000, maxAttempts: 3, concurrency: 4, imageLongSide: 128, judgeRejected: true, ...over };
}
function vlm(id = 'viescore-v1'): VlmRubric {
  const r = getRubric(id);
  if (!isVlmRubric(r)) throw new Error(`${id} is not a VLM rubric`);
  return r;
}
function reset(h: Handler) {
  seen = [];
  handler = h;
  open = new Set();
  maxInFlight = 0;
}
function reply(res: ServerResponse, content: string | null, usage = { prompt_tokens: 1200, completion_tokens: 80 }) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }], usage }));
}
const good = JSON.stringify({ reasoning: 'warm cast applied, cat intact', editing_success: 8, over_editing: 9, naturalness: 7, artifacts: 6 });
const input = { source, edit, instruction: 'Make the colors warmer', category: 'color' };

describe('VLM judge request', () => {
  it('sends the prompt, two JPEG data URLs at the configured size, temperature 0 and the strict json_schema', async () => {
    reset((_req, res) => reply(res, good));
    const rubric = vlm();
    const j = await createVlmJudge(cfg(), rubric).judge(input);
    expect(seen).toHaveLength(1);
    const req = seen[0]!;
    expect(req.url).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body.model).toBe('test-vlm');
    expect(req.body.temperature).toBe(0);
    expect(req.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'viescore_v1', strict: true, schema: replyJsonSchema(rubric) } });
    const schema = replyJsonSchema(rubric) as { required: string[]; additionalProperties: boolean; properties: Record<string, { minimum?: number; maximum?: number }> };
    expect(schema.required).toEqual(['reasoning', 'editing_success', 'over_editing', 'naturalness', 'artifacts']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.artifacts).toMatchObject({ minimum: 0, maximum: 10 });
    const content = (req.body.messages as { role: string; content: { type: string; text?: string; image_url?: { url: string } }[] }[])[0]!.content;
    expect(content[0]!.type).toBe('text');
    expect(content[0]!.text).toContain('"Make the colors warmer"');
    const images = content.filter((p) => p.type === 'image_url').map((p) => p.image_url!.url);
    expect(images).toHaveLength(2);
    const metas = await Promise.all(
      images.map((u) => {
        expect(u.startsWith('data:image/jpeg;base64,')).toBe(true);
        return sharp(Buffer.from(u.slice(u.indexOf(',') + 1), 'base64')).metadata();
      }),
    );
    const srcMeta = await sharp(source).metadata();
    for (const m of metas) {
      expect(m.format).toBe('jpeg');
      expect(Math.max(m.width, m.height)).toBe(128);
    }
    expect(metas[0]!.width / metas[0]!.height).toBeCloseTo(srcMeta.width / srcMeta.height, 1);
    expect(j.ok).toBe(true);
  });

  it('stores a good reply with the raw scores, score vector, all axes, GEdit aggregates, hash, usage and latency', async () => {
    reset((_req, res) => reply(res, good));
    const rubric = vlm();
    const j = await createVlmJudge(cfg(), rubric).judge(input);
    if (!j.ok) throw new Error(j.error);
    expect(j).toMatchObject({ rubric: 'viescore-v1', model: 'test-vlm', promptHash: rubric.promptHash, attempts: 1, rawReply: good });
    expect(j.promptHash).toMatch(/^[0-9a-f]{64}$/);
    expect(j.rawScores).toEqual({ editing_success: 8, over_editing: 9, naturalness: 7, artifacts: 6 });
    expect(j.scoreVector).toEqual([8, 9, 7, 6]);
    expect(j.axes).toEqual({ instruction: 8, preservation: 9, quality: 6 });
    expect(j.aggregate).toEqual({ SC: 8, PQ: 6, O: Math.round(Math.sqrt(48) * 1e4) / 1e4 });
    expect(j.passesThresholds).toBe(true);
    expect(j.usage).toEqual({ promptTokens: 1200, completionTokens: 80 });
    expect(j.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('fails the thresholds when PQ is below 6', async () => {
    reset((_req, res) => reply(res, JSON.stringify({ reasoning: 'noisy', editing_success: 9, over_editing: 9, naturalness: 8, artifacts: 4 })));
    const j = await createVlmJudge(cfg(), vlm()).judge(input);
    expect(j.ok && j.passesThresholds).toBe(false);
    expect(j.ok && j.aggregate.PQ).toBe(4);
  });

  it('maps nhr-v1 replies to 0–10 and applies the ≥ 4.7 keep rule', async () => {
    const body = { reasoning: 'fine', instruction_adherence: 4.8, image_aesthetic: 4.6, content_preservation: 5 };
    reset((_req, res) => reply(res, JSON.stringify(body)));
    const j = await createVlmJudge(cfg({ rubric: 'nhr-v1' }), vlm('nhr-v1')).judge(input);
    if (!j.ok) throw new Error(j.error);
    expect(seen[0]!.body.response_format).toMatchObject({ json_schema: { name: 'nhr_v1', strict: true } });
    expect(j.rawScores).toEqual({ instruction_adherence: 4.8, image_aesthetic: 4.6, content_preservation: 5 });
    expect(j.axes.instruction).toBeCloseTo(9.5, 6);
    expect(j.axes.quality).toBeCloseTo(9, 6);
    expect(j.axes.preservation).toBe(10);
    expect(j.scoreVector).toEqual([9.5, 9]);
    expect(j.aggregate).toEqual({ keep: false });
    expect(j.passesThresholds).toBe(false);
  });
});

describe('VLM judge reply validation and retries', () => {
  it('succeeds on attempt 2 after a malformed reply, summing the tokens of both', async () => {
    reset((_req, res, n) => reply(res, n === 1 ? 'Sure! The edit looks great: 8/10' : good));
    const j = await createVlmJudge(cfg(), vlm()).judge(input);
    expect(seen).toHaveLength(2);
    if (!j.ok) throw new Error(j.error);
    expect(j.attempts).toBe(2);
    expect(j.usage).toEqual({ promptTokens: 2400, completionTokens: 160 });
    expect(j.axes).toEqual({ instruction: 8, preservation: 9, quality: 6 });
  });

  it('accepts JSON inside a markdown code fence', async () => {
    reset((_req, res) => reply(res, '```json\n' + good + '\n```'));
    const j = await createVlmJudge(cfg(), vlm()).judge(input);
    expect(j.ok).toBe(true);
  });

  it('rejects an out-of-range score, and after maxAttempts returns a failed judgment with the raw reply and no score', async () => {
    const bad = JSON.stringify({ reasoning: 'x', editing_success: 11, over_editing: 9, naturalness: 7, artifacts: 6 });
    reset((_req, res) => reply(res, bad));
    const j = await createVlmJudge(cfg({ maxAttempts: 3 }), vlm()).judge(input);
    expect(seen).toHaveLength(3);
    expect(j.ok).toBe(false);
    if (j.ok) return;
    expect(j.attempts).toBe(3);
    expect(j.rawReply).toBe(bad);
    expect(j.error).toMatch(/^no valid reply after 3 attempts: reply field editing_success: /);
    expect(j.error).not.toContain('\n');
    expect(j).not.toHaveProperty('axes');
    expect(j).not.toHaveProperty('rawScores');
    expect(j).not.toHaveProperty('scoreVector');
  });

  it.each([
    ['a missing score', JSON.stringify({ reasoning: 'x', editing_success: 5, over_editing: 5, naturalness: 5 }), /field artifacts/],
    ['a non-integer viescore score', JSON.stringify({ reasoning: 'x', editing_success: 5.5, over_editing: 5, naturalness: 5, artifacts: 5 }), /field editing_success/],
    ['an extra key', JSON.stringify({ reasoning: 'x', editing_success: 5, over_editing: 5, naturalness: 5, artifacts: 5, overall: 5 }), /field \(reply\)|overall/],
    ['a string score', JSON.stringify({ reasoning: 'x', editing_success: '5', over_editing: 5, naturalness: 5, artifacts: 5 }), /field editing_success/],
    ['truncated JSON', good.slice(0, 40), /not JSON/],
  ])('never scores %s', async (_what, text, why) => {
    reset((_req, res) => reply(res, text));
    const j = await createVlmJudge(cfg({ maxAttempts: 2 }), vlm()).judge(input);
    expect(j.ok).toBe(false);
    if (!j.ok) expect(j.error).toMatch(why);
    expect(seen).toHaveLength(2);
  });

  it('treats a reply without content as a bad reply', async () => {
    reset((_req, res) => reply(res, null));
    const j = await createVlmJudge(cfg({ maxAttempts: 2 }), vlm()).judge(input);
    expect(j.ok).toBe(false);
    expect(j.rawReply).toBeNull();
  });
});

describe('VLM judge transport errors', () => {
  it('waits out a 429 retry-after and then succeeds', async () => {
    reset((_req, res, n) => {
      if (n === 1) {
        res.writeHead(429, { 'retry-after': '0.3', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit' } }));
      } else reply(res, good);
    });
    const t0 = Date.now();
    const j = await createVlmJudge(cfg(), vlm()).judge(input);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(j.ok && j.attempts).toBe(2);
  });

  it('throws RATE_LIMITED with retryAfterMs at once when the server asks for a long wait', async () => {
    reset((_req, res) => {
      res.writeHead(429, { 'retry-after': '60' });
      res.end('{"error":{"message":"quota"}}');
    });
    const err = await createVlmJudge(cfg(), vlm(), { maxRetryAfterWaitMs: 5_000 }).judge(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 60_000 });
    expect((err as RemoteError).message).toContain('quota');
    expect(seen).toHaveLength(1);
  });

  it('throws RATE_LIMITED after maxAttempts of 503', async () => {
    reset((_req, res) => {
      res.writeHead(503, { 'retry-after-ms': '20' });
      res.end('busy');
    });
    const err = await createVlmJudge(cfg({ maxAttempts: 2 }), vlm()).judge(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RATE_LIMITED', status: 503, retryAfterMs: 20 });
    expect(seen).toHaveLength(2);
  });

  it('retries a 500 with backoff, then succeeds', async () => {
    reset((_req, res, n) => {
      if (n === 1) {
        res.writeHead(500);
        res.end('oops');
      } else reply(res, good);
    });
    const j = await createVlmJudge(cfg(), vlm(), { backoffMs: 10 }).judge(input);
    expect(j.ok && j.attempts).toBe(2);
  });

  it('gives up on a 400 after one request with REMOTE_FINAL', async () => {
    reset((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'image_url is not supported by this model' } }));
    });
    const err = await createVlmJudge(cfg(), vlm()).judge(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REMOTE_FINAL', status: 400 });
    expect((err as Error).message).toContain('image_url is not supported');
    expect(seen).toHaveLength(1);
  });

  it('times out each request and throws REMOTE_RETRYABLE after maxAttempts', async () => {
    reset((_req, res) => {
      setTimeout(() => reply(res, good), 800);
    });
    const err = await createVlmJudge(cfg({ timeoutMs: 150, maxAttempts: 2 }), vlm(), { backoffMs: 10 }).judge(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REMOTE_RETRYABLE' });
    expect((err as Error).message).toMatch(/timed out after 150 ms/);
    expect(seen).toHaveLength(2);
  });

  it('throws ImageError for an edit that is not an image, before any request', async () => {
    reset((_req, res) => reply(res, good));
    const err = await createVlmJudge(cfg(), vlm()).judge({ ...input, edit: Buffer.from('not an image') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_IMAGE', subject: 'edit' });
    expect(seen).toHaveLength(0);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    // Each reply waits until a second request is in flight (or 30 s pass), so a limit of 2 is
    // reached on a loaded machine too, and a third request would show if the limit leaked.
    reset((_req, res) => {
      const started = Date.now();
      const poll = () => (open.size >= 2 || Date.now() - started > 30_000 ? setTimeout(() => reply(res, good), 30) : setTimeout(poll, 5));
      poll();
    });
    const judge = createVlmJudge(cfg({ concurrency: 2, timeoutMs: 60_000 }), vlm()); // the replies above wait up to 30 s
    const results = await Promise.all(Array.from({ length: 6 }, () => judge.judge(input)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(seen).toHaveLength(6);
    expect(maxInFlight).toBe(2);
  }, 180_000);
});

describe('createJudge', () => {
  it('builds the VLM client with the configured rubric when a URL is set', async () => {
    reset((_req, res) => reply(res, JSON.stringify({ reasoning: 'ok', instruction_adherence: 5, image_aesthetic: 4.9, content_preservation: 4 })));
    const judge = createJudge(cfg({ rubric: 'nhr-v1' }));
    expect(judge.rubric.id).toBe('nhr-v1');
    expect(judge.model).toBe('test-vlm');
    const j = await judge.judge(input);
    expect(j.ok && j.passesThresholds).toBe(true);
  });
});
