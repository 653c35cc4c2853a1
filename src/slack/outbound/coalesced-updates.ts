/**
 * `CoalescedUpdates`: the messenger's `chat.update` path, and the one place that bounds how often Slack sees an
 * edit — callers hand over every change (a token stream, each progress step) and never throttle themselves.
 * - Updates to the same message (channel + ts) are coalesced: while one is waiting or in flight, newer
 *   content replaces the pending one and only the latest is sent (pacer.ts `Coalescer`).
 * - Edits of one message start at least `messageIntervalMs` apart (pacer.ts `KeyedPacer`, keyed by message), so
 *   one busy message cannot use up the workspace budget; the first edit of a message is not delayed, and
 *   content that arrives meanwhile waits as the one pending update.
 * - Every `chat.update` — and every retry of one — first takes a token from the workspace-wide update budget
 *   (Tier 3, ~50/min), which a 429 pauses.
 * - Content beyond one message's limits is cut to the first part (split-message.ts), with a warning.
 */
import type { Logger } from '../../observability/logger.ts';
import type { OutgoingMessage } from '../../ports/messenger.ts';
import { type Clock, Coalescer, KeyedPacer, type TokenBucket, type Turn } from './pacer.ts';
import type { SlackApiCaller } from './slack-api-caller.ts';
import { type MessageLimits, splitMessage } from './split-message.ts';

export interface CoalescedUpdatesOptions {
  caller: SlackApiCaller;
  /** The workspace-wide `chat.update` budget (shared with the caller, which pauses it on a 429). */
  budget: TokenBucket;
  limits: MessageLimits;
  logger: Logger;
  /** Least time between the starts of two edits of the same message (default 1,500 ms). */
  messageIntervalMs?: number;
  clock?: Clock;
}

export class CoalescedUpdates {
  #caller: SlackApiCaller;
  #budget: TokenBucket;
  #limits: MessageLimits;
  #logger: Logger;
  #coalescer: Coalescer<OutgoingMessage & { ts: string }>;
  #messages: KeyedPacer;

  constructor(options: CoalescedUpdatesOptions) {
    this.#caller = options.caller;
    this.#budget = options.budget;
    this.#limits = options.limits;
    this.#logger = options.logger;
    this.#messages = new KeyedPacer({
      intervalMs: options.messageIntervalMs ?? 1500,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    // While a message waits for its turn, the coalescer keeps only its newest content.
    this.#coalescer = new Coalescer((key, message) => this.#messages.run(key, () => this.#sendUpdate(message)));
  }

  /** Settles with the `chat.update` that carried this content or newer content for the same message. */
  submit(message: OutgoingMessage & { ts: string }): Promise<void> {
    return this.#coalescer.submit(`${message.channel}:${message.ts}`, message);
  }

  /** Resolves once no update is waiting or in flight. */
  idle(): Promise<void> {
    return this.#coalescer.idle();
  }

  async #sendUpdate(message: OutgoingMessage & { ts: string }): Promise<void> {
    const parts = splitMessage(
      { text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) },
      this.#limits,
    );
    const [part] = parts;
    if (!part) return;
    if (parts.length > 1) {
      this.#logger.warn(
        { channel: message.channel, ts: message.ts, parts: parts.length },
        'update too long, cut to one message',
      );
    }
    const turn: Turn = () => this.#budget.take();
    await turn();
    await this.#caller.call('chat.update', 'update', message.channel, turn, {
      channel: message.channel,
      ts: message.ts,
      text: part.text,
      ...(part.blocks ? { blocks: part.blocks } : {}),
    });
  }
}
