/**
 * A stand-in for an OpenAI-compatible VLM judge: a real HTTP server answering
 * `POST /v1/chat/completions` with a `viescore-v1` reply. It looks at the two images it is sent:
 * the scores are the built-in metric judge's measures of the pair (instruction → editing_success,
 * preservation → over_editing, quality → naturalness and artifacts), rounded to the rubric's
 * integers, so a face-shifted or noisy edit scores lower as it would with a real judge. Each model
 * name answers a little differently (a model-dependent ±1 on editing_success), so two judge
 * versions disagree somewhere. `latencyMs` delays every reply; `garble` makes chosen calls
 * answer text that is not a score. `GET /calls` answers the replies so far per model.
 *
 * With `rubric: 'imgedit-v1'` it answers that rubric instead (the same measures on 1–5) and
 * records which edit-type variant of the prompt it was asked.
 *
 * Run as a program (`tsx test/services/fake-vlm.ts LATENCY_MS [RUBRIC]`), it serves constant scores in
 * its own process and prints its URL: the benchmarks' stand-in, off their event loop.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createMetricJudge } from '../../pipeline/builtin/metric-judge.ts';
import { sleep } from '../../pipeline/sleep.ts';

export interface FakeVlmCall {
  model: string;
  instruction: string;
  /** sha256 of the edit image as sent (a data URL's bytes). */
  editHash: string;
  /** imgedit-v1: the edit type whose prompt variant was asked (read from the criteria sent). */
  editType?: string;
}

export interface FakeVlm {
  url: string;
  calls: FakeVlmCall[];
  /** Replies per model so far. */
  count(model?: string): number;
  close(): Promise<void>;
}

export interface FakeVlmOptions {
  /** Milliseconds before each reply (default 0). */
  latencyMs?: number;
  /** Answer this call with an unscorable reply. */
  garble?: (call: FakeVlmCall) => boolean;
  /** Constant scores instead of measuring (a pure-latency stand-in for benchmarks). */
  constant?: boolean;
  /** The rubric answered (default viescore-v1). imgedit-v1: the measures mapped onto 1–5. */
  rubric?: 'viescore-v1' | 'imgedit-v1';
}

/** The first words of each imgedit-v1 variant's instruction_adherence criterion → its edit type. */
const IMGEDIT_MARKERS: [string, string][] = [
  ['the requested object or element is present', 'add'],
  ['the named object is gone completely', 'remove'],
  ['the named object was replaced', 'replace'],
  ['the requested attribute', 'attribute'],
  ['the image shows the requested style', 'style'],
  ['the background changed as asked', 'background'],
  ['the requested subject was isolated', 'extract'],
  ['every part of a multi-step instruction', 'compose'],
  ['the subject now performs', 'action'],
  ['the edit carries out the instruction completely', 'generic'],
];

/** 0–10 → 1–5 (nearest). */
const toFive = (v: number) => Math.max(1, Math.min(5, Math.round(1 + v / 2.5)));

const clamp = (v: number) => Math.max(0, Math.min(10, Math.round(v)));

export async function startFakeVlm(opts: FakeVlmOptions = {}): Promise<FakeVlm> {
  const metric = createMetricJudge({ workingSide: 96 });
  const calls: FakeVlmCall[] = [];
  const answer = async (body: { model: string; messages: { content: { type: string; text?: string; image_url?: { url: string } }[] }[] }) => {
    const parts = body.messages[0]!.content;
    const text = parts.find((p) => p.type === 'text')!.text!;
    const m = /instruction(?: is:)? ("(?:[^"\\]|\\.)*")/.exec(text);
    const instruction = m ? (JSON.parse(m[1]!) as string) : '';
    const [src, edit] = parts.filter((p) => p.type === 'image_url').map((p) => Buffer.from(p.image_url!.url.slice(p.image_url!.url.indexOf(',') + 1), 'base64'));
    const call: FakeVlmCall = { model: body.model, instruction, editHash: createHash('sha256').update(edit!).digest('hex') };
    if (opts.rubric === 'imgedit-v1') call.editType = IMGEDIT_MARKERS.find(([m]) => text.includes(m))?.[1] ?? 'unknown';
    calls.push(call);
    if (opts.garble?.(call)) return 'I cannot rate this edit.';
    if (opts.rubric === 'imgedit-v1') {
      if (opts.constant) return JSON.stringify({ reasoning: 'constant', instruction_adherence: 4, editing_quality: 4, detail_preservation: 4 });
      const j = await metric.judge({ source: src!, edit: edit!, instruction });
      const a = j.ok ? j.axes : { instruction: 5, preservation: 5, quality: 5 };
      // This judge weighs preservation its own way: a model-dependent ±1 there, so it disagrees with viescore somewhere.
      const nudge = (createHash('sha256').update(`${body.model}\n${call.editHash}\npres`).digest()[0]! % 3) - 1;
      return JSON.stringify({
        reasoning: `measured by the imgedit stand-in for ${body.model}`,
        instruction_adherence: toFive(a.instruction),
        editing_quality: toFive(a.quality),
        detail_preservation: Math.max(1, Math.min(5, toFive(a.preservation) + nudge)),
      });
    }
    if (opts.constant) return JSON.stringify({ reasoning: 'constant', editing_success: 7, over_editing: 7, naturalness: 7, artifacts: 7 });
    const j = await metric.judge({ source: src!, edit: edit!, instruction });
    const a = j.ok ? j.axes : { instruction: 5, preservation: 5, quality: 5 };
    const nudge = (createHash('sha256').update(`${body.model}\n${call.editHash}`).digest()[0]! % 3) - 1;
    return JSON.stringify({
      reasoning: `measured by the stand-in for ${body.model}`,
      editing_success: clamp(a.instruction + nudge),
      over_editing: clamp(a.preservation),
      naturalness: clamp(a.quality),
      artifacts: clamp(a.quality),
    });
  };
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET') {
      // GET /calls: replies so far per model (for a stand-in running in another process).
      const per: Record<string, number> = {};
      for (const c of calls) per[c.model] = (per[c.model] ?? 0) + 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(per));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          const [content] = await Promise.all([answer(body), sleep(opts.latencyMs ?? 0)]);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }], usage: { prompt_tokens: 100, completion_tokens: 20 } }));
        } catch (err) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: String(err), type: 'server_error', code: 500 } }));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    calls,
    count: (model) => calls.filter((c) => model === undefined || c.model === model).length,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const vlm = await startFakeVlm({ latencyMs: Number(process.argv[2] ?? 50), constant: true, rubric: process.argv[3] === 'imgedit-v1' ? 'imgedit-v1' : 'viescore-v1' });
  process.stdout.write(`${vlm.url}\n`);
  process.on('SIGTERM', () => void vlm.close().then(() => process.exit(0)));
}
