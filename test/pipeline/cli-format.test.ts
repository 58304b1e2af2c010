import { describe, expect, it } from 'vitest';
import { formatDepths, formatFunnel } from '../../cli/status.ts';
import { parseQueueList } from '../../cli/worker.ts';
import type { Funnel } from '../../db/repositories/funnel.repository.ts';

describe('worker --queues', () => {
  it('takes a comma-separated subset of the stage queues, once each', () => {
    expect(parseQueueList('check, judge,check')).toEqual(['check', 'judge']);
    expect(parseQueueList('generate,check,judge,select')).toEqual(['generate', 'check', 'judge', 'select']);
  });
  it('names the flag and the unknown queue', () => {
    expect(() => parseQueueList('check,export')).toThrow("unknown queue 'export' (expected generate, check, judge, select)");
    expect(() => parseQueueList(' , ')).toThrow(/expected a comma-separated list/);
  });
});

describe('status tables', () => {
  const funnel: Funnel = {
    rubric: 'metric-v1',
    judge: { rubric: 'metric-v1', model: 'builtin-metric-v1', promptHash: '0123456789abcdef' },
    checkVersion: 'face(iou=0.9)+change(px=40)',
    requests: { total: 50, pending: 1, generated: 2, settled: 46, selected: 45, failed: 1 },
    candidates: { generated: 196, failed: 3 },
    checks: { checked: 196, passed: 120, failed: 76, faceFail: 30, noChange: 20, noiseOnly: 26, noFaces: 100, faceUncertain: 0, artifactFail: 7 },
    judgments: { judged: 118, ok: 117, failed: 1, aboveThresholds: 60, onRejected: 7 },
    selection: {
      ruleVersion: 'select-v1',
      requestsSelected: 45,
      sftPicks: 40,
      dpoPairs: 70,
      rules: {
        'select-v1': { requestsSelected: 45, sftPicks: 40, dpoPairs: 70, notDominant: 0 },
        'scalar-v1': { requestsSelected: 45, sftPicks: 42, dpoPairs: 80, notDominant: 12 },
      },
    },
    failures: { total: 4, byStage: { generate: 1, judge: 3 } },
  };
  it('prints every funnel row with its reasons', () => {
    const text = formatFunnel(funnel);
    expect(text).toMatch(/^requests\s+50\s+pending 1, generated 2, settled 46, selected 45, failed 1$/m);
    expect(text).toMatch(/^ {2}failed checks\s+76\s+face 30, no_change 20, noise_only 26, artifact 7$/m);
    expect(text).toMatch(/^ {2}judged\s+118\s+ok 117, unscorable 1, judge metric-v1\/builtin-metric-v1@01234567$/m);
    expect(text).toMatch(/^ {2}judged, rejected\s+7\s+judge calls on candidates that failed a hard check \(JUDGE_REJECTED\)$/m);
    expect(text).toMatch(/^ {2}checked\s+196\s+check version face\(iou=0\.9\)\+change\(px=40\)$/m);
    expect(text).toMatch(/^SFT picks\s+40\s+of 45 selected requests$/m);
    expect(text).toMatch(/^DPO pairs\s+70\s+rule select-v1$/m);
    expect(text).toMatch(/^ {2}select-v1 pairs\s+70\s+not dominant 0, SFT picks 40 of 45$/m);
    expect(text).toMatch(/^ {2}scalar-v1 pairs\s+80\s+not dominant 12, SFT picks 42 of 45$/m);
    expect(text).toMatch(/^failures \(open\)\s+4\s+generate 1, judge 3$/m);
    expect(text).not.toMatch(/uncertain/); // shown only when some source was uncertain
    const some = formatFunnel({ ...funnel, checks: { ...funnel.checks, faceUncertain: 7 } });
    expect(some).toMatch(/^ {2}face uncertain\s+7\s+source face only likely; FACE_UNCERTAIN decides$/m);
  });
  it('prints queue depths per queue, waiting including prioritized', () => {
    const d = { waiting: 1, active: 2, delayed: 3, failed: 4, completed: 5, prioritized: 10 };
    const text = formatDepths({ generate: d, check: d, judge: d, select: d });
    expect(text.split('\n')[0]).toMatch(/^queue\s+waiting\s+active\s+delayed\s+failed\s+completed$/);
    expect(text).toMatch(/^judge\s+11\s+2\s+3\s+4\s+5$/m);
  });
});
