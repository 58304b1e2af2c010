/**
 * The one registry of queues and job payloads. Jobs carry ids, never image bytes. Job ids are
 * derived from the payload so that enqueuing the same work twice is a no-op in BullMQ too.
 */

export interface JobPayloads {
  /** Generate all K candidates of one request (seeds base_seed … base_seed+K−1). */
  generate: { requestId: number };
  /** Hard checks (faces, change) of one candidate. */
  check: { candidateId: number };
  /** Judge one candidate that passed the hard checks. */
  judge: { candidateId: number };
  /** SFT pick and DPO pairs of one settled request. */
  select: { requestId: number };
}

export type QueueName = keyof JobPayloads;

export const QUEUE_NAMES: readonly QueueName[] = ['generate', 'check', 'judge', 'select'] as const;

/** BullMQ key prefix, so several deployments can share one Redis by setting QUEUE_PREFIX. */
export const DEFAULT_QUEUE_PREFIX = 'vibe';

/** Deterministic job id: the same work always gets the same id. */
export function jobId<Q extends QueueName>(queue: Q, payload: JobPayloads[Q]): string {
  switch (queue) {
    case 'generate':
      return `generate-${(payload as JobPayloads['generate']).requestId}`;
    case 'check':
      return `check-${(payload as JobPayloads['check']).candidateId}`;
    case 'judge':
      return `judge-${(payload as JobPayloads['judge']).candidateId}`;
    case 'select':
      return `select-${(payload as JobPayloads['select']).requestId}`;
    default: {
      const never: never = queue;
      throw new Error(`unknown queue ${String(never)}`);
    }
  }
}

export function isQueueName(s: string): s is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(s);
}
