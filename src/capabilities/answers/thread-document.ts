/**
 * A Slack thread as a Markdown document (the "Save to Deskhand docs" shortcut). Pure: no Slack, no index.
 *
 * Guarantees:
 * - the title is the first saved message's first line as plain text, one line of at most `maxTitleCharacters`;
 * - each saved message is a paragraph headed by its author (display name, else `@U…`) and its time in UTC, then
 *   its text with Slack's markup made Markdown: `<url|label>` becomes `[label](url)`, mentions and broadcasts
 *   become plain `@name` / `#channel` (a quoted passage can never ping anyone), entities are decoded;
 * - a message's text cannot change the document's structure: lines that would open a heading are escaped and a
 *   code fence it leaves open is closed, so it never swallows the messages after it;
 * - people's messages are saved; Deskhand's own are saved and marked as automated answers (they often carry the
 *   resolution the people confirmed); other bots' messages and system messages (joins, edits) are left out;
 * - bounded: more than `maxMessages` messages is `too_long` (nothing rendered); each message is cut at
 *   `maxMessageCharacters`; past `maxDocumentCharacters` the first message and the most recent replies that fit are
 *   kept and the document says how many earlier replies were left out;
 * - the output depends only on the messages (no save time), so saving an unchanged thread gives identical bytes.
 */
import type { ThreadMessage } from '../../ports/messenger.ts';
import { truncate } from '../../slack-kit/mrkdwn.ts';

export interface ThreadDocumentLimits {
  maxMessages: number;
  maxMessageCharacters: number;
  maxDocumentCharacters: number;
  maxTitleCharacters: number;
}

export const defaultThreadDocumentLimits: ThreadDocumentLimits = {
  maxMessages: 500,
  maxMessageCharacters: 4_000,
  maxDocumentCharacters: 200_000,
  maxTitleCharacters: 100,
};

export interface ThreadDocumentInput {
  channelId: string;
  threadTs: string;
  /** The thread's Slack permalink, kept in the document. */
  permalink?: string;
  /** The thread as read from Slack (parent and replies). */
  messages: ThreadMessage[];
  /** True for Deskhand's own messages. */
  isDeskhand: (message: ThreadMessage) => boolean;
  limits?: Partial<ThreadDocumentLimits>;
}

export type ThreadDocument =
  | {
      kind: 'document';
      title: string;
      markdown: string;
      /** Messages in the document. */
      savedMessages: number;
      /** Other bots' and system messages left out. */
      skippedMessages: number;
      /** Earlier replies left out to stay within `maxDocumentCharacters`. */
      leftOutReplies: number;
    }
  | { kind: 'empty'; skippedMessages: number }
  | { kind: 'too_long'; messageCount: number; maxMessages: number };

/** Subtypes of messages people write (`undefined`: a plain message). */
const personSubtypes: ReadonlySet<string | undefined> = new Set([
  undefined,
  'thread_broadcast',
  'file_share',
  'me_message',
]);

export function renderThreadDocument(input: ThreadDocumentInput): ThreadDocument {
  const limits = { ...defaultThreadDocumentLimits, ...input.limits };
  const thread = input.messages.filter(
    (message) => message.ts === input.threadTs || message.threadTs === input.threadTs,
  );
  if (thread.length > limits.maxMessages) {
    return { kind: 'too_long', messageCount: thread.length, maxMessages: limits.maxMessages };
  }
  thread.sort((a, b) => Number(a.ts) - Number(b.ts));
  const saved: { message: ThreadMessage; deskhand: boolean }[] = [];
  for (const message of thread) {
    const deskhand = input.isDeskhand(message);
    const person = !message.botId && message.user !== undefined && personSubtypes.has(message.subtype);
    if ((deskhand || person) && (message.text.trim() !== '' || (message.files?.length ?? 0) > 0)) {
      saved.push({ message, deskhand });
    }
  }
  const skippedMessages = thread.length - saved.length;
  const [first, ...replies] = saved;
  if (!first) return { kind: 'empty', skippedMessages };

  const title = titleOf(first.message, limits.maxTitleCharacters);
  const entries = saved.map(({ message, deskhand }) => renderMessage(message, deskhand, limits.maxMessageCharacters));
  const header = headerOf(title, input, first.message);
  const [firstEntry = '', ...replyEntries] = entries;
  let total = header.length + firstEntry.length + replyEntries.reduce((sum, entry) => sum + entry.length + 2, 0);
  let leftOutReplies = 0;
  while (leftOutReplies < replyEntries.length && total > limits.maxDocumentCharacters) {
    total -= (replyEntries[leftOutReplies] as string).length + 2;
    leftOutReplies += 1;
  }
  const kept = replyEntries.slice(leftOutReplies);
  const note =
    leftOutReplies > 0
      ? [
          `_${leftOutReplies} earlier ${leftOutReplies === 1 ? 'reply is' : 'replies are'} not included: the thread is longer than a saved document may be._`,
        ]
      : [];
  const markdown = `${[header, firstEntry, ...note, ...kept].join('\n\n')}\n`;
  return {
    kind: 'document',
    title,
    markdown,
    savedMessages: 1 + replies.length - leftOutReplies,
    skippedMessages,
    leftOutReplies,
  };
}

/** The first message's first non-empty line as plain text, or a dated fallback. */
function titleOf(message: ThreadMessage, maxCharacters: number): string {
  const plain = slackTextToPlain(message.text.slice(0, 2_000));
  const line = plain
    .split('\n')
    .map((part) =>
      part
        .replace(/[*~`]+/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .find((part) => part !== '');
  return truncate(line ?? `Slack thread of ${dateOf(message.ts) || 'an unknown date'}`, maxCharacters);
}

function headerOf(title: string, input: ThreadDocumentInput, first: ThreadMessage): string {
  const started = dateOf(first.ts);
  const link = input.permalink ? ` Link: <${input.permalink}>` : '';
  return `# ${escapeLineStarts(title)}\n\nA Slack thread in channel ${input.channelId}${started ? `, started ${started}` : ''}, saved with Deskhand.${link}`;
}

function renderMessage(message: ThreadMessage, deskhand: boolean, maxCharacters: number): string {
  const author = deskhand ? 'Deskhand (automated answer)' : authorOf(message);
  const time = dateOf(message.ts);
  const text = closeOpenFence(escapeLineStarts(slackTextToMarkdown(truncate(message.text, maxCharacters))));
  const files = (message.files ?? [])
    .slice(0, 10)
    .map((file) => plainInline(file.name ?? file.id).slice(0, 200))
    .filter((name) => name !== '');
  const attached = files.length > 0 ? `\n(Attached: ${files.join(', ')})` : '';
  return `**${plainInline(author)}**${time ? ` · ${time}` : ''}:\n${text.trim()}${attached}`;
}

function authorOf(message: ThreadMessage): string {
  if (message.authorName) return message.authorName;
  return message.user ? `@${message.user}` : 'someone';
}

/** `1714572180.000100` → `2024-05-01 14:03 UTC`; '' for a ts that is not one. */
function dateOf(ts: string): string {
  if (!/^\d{1,12}\.\d{1,9}$/.test(ts)) return '';
  const date = new Date(Number(ts) * 1000);
  if (Number.isNaN(date.getTime())) return '';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Text for inside `**…**` or a list: one line, no Markdown emphasis or link characters. */
function plainInline(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[*_`[\]<>\\]/g, '');
}

/** Slack's `<…>` markup, bounded so a hostile text cannot make the scan slow (linear: no nested repetition). */
const slackMarkup = /<([^<>\n]{1,1000})>/g;

/** Slack message text as Markdown: links kept as Markdown links, mentions as plain names, entities decoded. */
export function slackTextToMarkdown(text: string): string {
  return decodeEntities(text.replace(slackMarkup, (_whole, inner: string) => markupToMarkdown(inner, true)));
}

/** Slack message text as plain text: links as their label (or URL), mentions as plain names. */
export function slackTextToPlain(text: string): string {
  return decodeEntities(text.replace(slackMarkup, (_whole, inner: string) => markupToMarkdown(inner, false)));
}

function markupToMarkdown(inner: string, links: boolean): string {
  const bar = inner.indexOf('|');
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : inner.slice(bar + 1);
  if (target.startsWith('@')) return `@${label || target.slice(1)}`;
  if (target.startsWith('#')) return `#${label || target.slice(1)}`;
  if (target.startsWith('!subteam^')) return label ? `@${label.replace(/^@/, '')}` : '@group';
  if (target.startsWith('!date^')) return label ?? '';
  if (target.startsWith('!')) return `@${target.slice(1)}`;
  if (!/^(https?:\/\/|mailto:)/i.test(target)) return label ?? target;
  if (!links) return label ?? target;
  const url = target.replace(
    /[()\s]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
  return label ? `[${label.replace(/[[\]]/g, '\\$&')}](${url})` : `<${url}>`;
}

function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Escapes lines that would open an ATX heading or underline the line above into a setext heading. */
function escapeLineStarts(text: string): string {
  return text
    .split('\n')
    .map((line) => (/^ {0,3}(#{1,6}(?:[ \t]|$)|=+ *$|-+ *$)/.test(line) ? `\\${line.trimStart()}` : line))
    .join('\n');
}

/** Closes a code fence the text opened and left open. */
function closeOpenFence(text: string): string {
  let open: string | undefined;
  for (const line of text.split('\n')) {
    const fence = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (!fence) continue;
    if (open === undefined) open = fence;
    else if (fence[0] === open[0] && fence.length >= open.length) open = undefined;
  }
  return open === undefined ? text : `${text}\n${open}`;
}
