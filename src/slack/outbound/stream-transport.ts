/**
 * What the messenger gives a `SlackMessageStream`: its streaming calls under the messenger's policy, its
 * post/update paths, and the stream's tuning.
 *
 * Guarantees: `call` is paced, never retried on an unknown outcome, and reports Slack errors as `DeskhandError`;
 * the tuning defaults (applied by message-stream.ts) are 1000 ms, 1000 characters, and 12,000 characters per call
 * and per streamed message. Types only.
 */
import type { Logger } from '../../observability/logger.ts';
import type { OutgoingMessage, PostedMessage } from '../../ports/messenger.ts';
import type { Clock } from './pacer.ts';
import type { MessageLimits } from './split-message.ts';

/** What a stream needs from the messenger: streaming calls under its policy, and its post/update paths. */
export interface StreamTransport {
  /** One `chat.*Stream` call: paced, never retried on an unknown outcome, Slack errors as `DeskhandError`. */
  call(method: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>>;
  post(message: OutgoingMessage): Promise<PostedMessage>;
  update(message: OutgoingMessage & { ts: string }): Promise<void>;
  logger: Logger;
  clock: Clock;
  /** Called once per switch to the fallback, with the reason (for a metric). */
  onFallback?: (reason: string) => void;
  /** Registers work the messenger's `drain()` must wait for (the stream's sends and its stop). */
  track?: <T>(work: Promise<T>) => Promise<T>;
}

export interface MessageStreamTuning {
  /** Longest wait before buffered content is sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Buffered characters that trigger a send before the interval (default 1000). */
  flushChars?: number;
  /** Most `markdown_text` characters in one call (Slack: 12,000). */
  maxCallChars?: number;
  /** Most characters one streamed message holds before the reply continues in another (default 12,000). */
  maxStreamChars?: number;
  limits?: MessageLimits;
}
