/**
 * The queue set a command works on: the configured Redis (REDIS_URL, or one resolved by the
 * context) under QUEUE_PREFIX, closed with the command.
 */
import { openQueues, type QueueSet } from '../pipeline/queues.ts';
import type { CliContext } from './context.ts';

/** Opens the stage queues for this command; closed when the command ends. */
export async function commandQueues(ctx: CliContext): Promise<{ set: QueueSet; redisUrl: string }> {
  const redis = await ctx.redis();
  const set = openQueues(redis.url, ctx.config().queue.prefix);
  ctx.onClose(() => set.close());
  return { set, redisUrl: redis.url };
}
