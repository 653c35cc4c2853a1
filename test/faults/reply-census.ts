/**
 * Counts what the replicas wrote to the fake Slack for each event of the fault test:
 * - a mention's replies are the bot's messages in the mention's thread (the channel, `thread_ts` = the mention's
 *   ts); exactly one is right, none is a lost event, two or more a duplicate reply;
 * - a reply is half-written when its stream was started and never stopped, or when it still shows a placeholder
 *   (the status ":hourglass_flowing_sand: Searching…" or ":writing_hand: Still writing…" of an updated reply);
 * - an `/ask` reply is a channel message (or an ephemeral) whose text or blocks carry the question's marker;
 * - when a reply was finished, and by which replica, comes from the taps (slack-tap.ts): its successful
 *   `chat.stopStream` for a stream, else the last successful `chat.update` or `chat.postMessage` on its ts.
 */
import type { StoredMessage } from '../fakes/slack-web-api.ts';
import type { TappedCall } from './slack-tap.ts';

export interface MentionEvent {
  eventId: string;
  channel: string;
  ts: string;
  marker: string;
  firstSentAt: number;
}

export interface ReplyState {
  ts: string;
  halfWritten: boolean;
  /** When the reply was last completed (ms since epoch); undefined if never. */
  finishedAt?: number;
  finishedBy?: string;
  startedBy?: string;
  text: string;
}

export interface EventCensus {
  event: MentionEvent;
  replies: ReplyState[];
}

export interface SlackView {
  messages(channel: string): StoredMessage[];
  readonly ephemeralMessages: { channel: string; text: string; blocks?: unknown[] }[];
  readonly botUserId: string;
}

const placeholder = /:hourglass_flowing_sand:|Still writing…/;
const finishing = new Set(['chat.stopStream', 'chat.update', 'chat.postMessage']);

function isBot(message: StoredMessage, slack: SlackView): boolean {
  return message.user === slack.botUserId || message.botId !== undefined;
}

function content(message: { text: string; blocks?: unknown[] }): string {
  return `${message.text}\n${JSON.stringify(message.blocks ?? [])}`;
}

/** The state of one reply message, from the fake's copy and the taps. */
export function replyState(message: StoredMessage, egress: readonly TappedCall[]): ReplyState {
  const calls = egress.filter((call) => call.ok && call.channel === message.channel && call.ts === message.ts);
  // A stream is finished when it is stopped; a posted reply by its last post or update (its final content).
  const finishedCalls = calls.filter((call) => finishing.has(call.method) && !placeholder.test(content(message)));
  const last =
    message.streaming !== undefined
      ? finishedCalls.find((call) => call.method === 'chat.stopStream')
      : finishedCalls.at(-1);
  const started = calls[0];
  const streamOpen = message.streaming !== undefined && !message.streaming.stopped;
  return {
    ts: message.ts,
    halfWritten: streamOpen || placeholder.test(content(message)),
    ...(last && !streamOpen ? { finishedAt: last.at, finishedBy: last.replica } : {}),
    ...(started ? { startedBy: started.replica } : {}),
    text: message.text.slice(0, 160),
  };
}

/** Each mention's bot replies in its thread. */
export function mentionCensus(
  events: readonly MentionEvent[],
  slack: SlackView,
  egress: readonly TappedCall[],
): EventCensus[] {
  const byChannel = new Map<string, StoredMessage[]>();
  for (const event of events) {
    if (!byChannel.has(event.channel)) byChannel.set(event.channel, slack.messages(event.channel));
  }
  return events.map((event) => {
    const replies = (byChannel.get(event.channel) ?? [])
      .filter((message) => message.threadTs === event.ts && isBot(message, slack))
      .map((message) => replyState(message, egress));
    return { event, replies };
  });
}

/** Bot messages in the mention channels that belong to no mention's thread (a reply gone astray). */
export function strayMessages(events: readonly MentionEvent[], slack: SlackView): StoredMessage[] {
  const threads = new Set(events.map((event) => `${event.channel} ${event.ts}`));
  const channels = new Set(events.map((event) => event.channel));
  return [...channels].flatMap((channel) =>
    slack
      .messages(channel)
      .filter((message) => isBot(message, slack) && !threads.has(`${channel} ${message.threadTs ?? ''}`)),
  );
}

export interface CommandCensus {
  marker: string;
  /** Channel messages carrying the marker (an /ask answer, a refusal in the answer message). */
  replies: ReplyState[];
  /** Ephemeral messages carrying the marker. */
  ephemerals: string[];
}

/** Each `/ask`'s replies in `channel`, found by the marker in its question. */
export function commandCensus(
  markers: readonly string[],
  channel: string,
  slack: SlackView,
  egress: readonly TappedCall[],
): CommandCensus[] {
  const messages = slack.messages(channel).filter((message) => isBot(message, slack));
  const ephemerals = slack.ephemeralMessages.filter((message) => message.channel === channel);
  const has = (text: string, marker: string) => new RegExp(`${marker}(?![0-9])`).test(text);
  return markers.map((marker) => ({
    marker,
    replies: messages.filter((message) => has(content(message), marker)).map((message) => replyState(message, egress)),
    ephemerals: ephemerals.filter((message) => has(content(message), marker)).map((message) => message.text),
  }));
}

/** How many events got 0, 1, 2… replies: `{ "1": 297, "2": 3 }`. */
export function histogram(counts: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const count of counts) out[String(count)] = (out[String(count)] ?? 0) + 1;
  return out;
}
