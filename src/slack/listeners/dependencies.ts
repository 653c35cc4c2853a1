/** What listeners need: the work they hand requests to, the durable hand-off, background jobs and identity. */
import type { Logger } from '../../observability/logger.ts';
import type { BotIdentity } from '../../router/thread-context.ts';
import type { BackgroundJobs } from '../../work/background-jobs.ts';
import type { DurableWork } from '../../work/durable-work.ts';
import type { Work } from '../../work/work.ts';

export interface ListenerDependencies {
  /** Everything after the ack (this event loop or a worker thread). */
  work: Work;
  /** Stores post-ack work before the ack and runs it (see durable-work.ts). */
  durable: DurableWork;
  jobs: BackgroundJobs;
  logger: Logger;
  /** Delivery lease (see dedupe.ts), renewed by the background job while it runs. */
  leaseMs: number;
  /** Reaction name (without colons) that turns a message into a ticket. */
  ticketReaction: string;
  identity: () => BotIdentity;
  /**
   * Drops a channel's cached Slack Connect sharing (`channel_shared` / `channel_unshared`); absent: nothing is
   * cached to drop.
   */
  forgetChannelSharing?: (workspaceId: string, channelId: string) => Promise<void>;
}
