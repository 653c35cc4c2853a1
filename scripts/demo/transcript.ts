/**
 * Turns what Deskhand sent to the fake Slack into what a Slack user would see, compactly: posts, edits (only the
 * latest version of a message per batch, with lines that did not change folded into "…"), streamed replies
 * assembled into one message, ephemerals ("only you"), modals (title and fields), reactions and assistant
 * statuses. Failed Slack calls are shown too, since a user would see nothing and wonder why.
 */
import type { FakeSlackWebApi, RecordedCall } from '../../test/fakes/slack-web-api.ts';
import { ButtonBook, channelName, type MessagePlace, readable, renderBlocks } from './render.ts';

type Json = Record<string, unknown>;

export interface DemoView {
  id: string;
  callbackId: string;
  privateMetadata: string;
  title: string;
  submitLabel: string;
  blocks: Json[];
}

interface Stored {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks?: Json[];
  ephemeral: boolean;
  streaming?: 'open' | 'stopped';
}

type Event =
  | { kind: 'post' | 'edit' | 'ephemeral' | 'stream'; key: string; snapshot: Stored }
  | { kind: 'status'; text: string }
  | { kind: 'reaction'; text: string }
  | { kind: 'view'; key: string; view: DemoView }
  | { kind: 'error'; text: string };

const shownMethods = new Set([
  'chat.postMessage',
  'chat.update',
  'chat.postEphemeral',
  'chat.startStream',
  'chat.appendStream',
  'chat.stopStream',
  'views.open',
  'views.update',
  'views.push',
  'reactions.add',
  'assistant.threads.setStatus',
]);

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/** "label: first line" with the other lines aligned under the first. */
export function labelled(label: string, lines: string[]): string[] {
  const pad = ' '.repeat(label.length + 4);
  return lines.map((line, index) => (index === 0 ? `  ${label}: ${line}` : `${pad}${line}`));
}

/** Lines the reader has already seen become one "…" per run (only when that hides at least two lines). */
function fold(lines: string[], known: ReadonlySet<string>): string[] {
  const folded: string[] = [];
  let hidden = 0;
  for (const line of lines) {
    if (line.trim() !== '' && known.has(line)) {
      hidden += 1;
      if (folded.at(-1) !== '…') folded.push('…');
    } else {
      folded.push(line);
    }
  }
  return hidden >= 2 ? folded : lines;
}

export function viewFrom(raw: Json, id: string): DemoView {
  const title = (raw.title as Json | undefined)?.text;
  const submit = (raw.submit as Json | undefined)?.text;
  return {
    id,
    callbackId: str(raw.callback_id),
    privateMetadata: str(raw.private_metadata),
    title: typeof title === 'string' ? title : 'Modal',
    submitLabel: typeof submit === 'string' ? submit : '',
    blocks: (raw.blocks as Json[] | undefined) ?? [],
  };
}

export class Transcript {
  readonly book = new ButtonBook();
  /** The modal on screen, if any (what `submit` submits). */
  openView: DemoView | undefined;
  /** The thread Deskhand last replied in, in the demo channel (where `reply` goes). */
  lastThreadTs: string | undefined;
  readonly #slack: FakeSlackWebApi;
  readonly #channel: string;
  #cursor: number;
  readonly #messages = new Map<string, Stored>();
  readonly #shown = new Map<string, string[]>();
  /** The last lines shown, for folding repeats. */
  readonly #recent: string[] = [];

  constructor(slack: FakeSlackWebApi, channel: string) {
    this.#slack = slack;
    this.#channel = channel;
    this.#cursor = slack.calls.length;
  }

  /** Lines for the Slack calls received since the last drain. */
  drain(): string[] {
    const calls = this.#slack.calls.slice(this.#cursor);
    this.#cursor += calls.length;
    const events: Event[] = [];
    for (const call of calls) this.#apply(call, events);
    // Only the latest version of a message (or a modal) per batch: keep the last edit/stream/view event per key.
    const last = new Map<string, number>();
    events.forEach((event, index) => {
      if (event.kind === 'edit' || event.kind === 'stream' || event.kind === 'view') last.set(event.key, index);
    });
    const lines: string[] = [];
    events.forEach((event, index) => {
      if (
        (event.kind === 'edit' || event.kind === 'stream' || event.kind === 'view') &&
        last.get(event.key) !== index
      ) {
        return;
      }
      lines.push(...this.#render(event));
    });
    return lines;
  }

  #apply(call: RecordedCall, events: Event[]): void {
    if (!shownMethods.has(call.method)) return;
    const params = call.params;
    const response = call.response ?? {};
    if (response.ok !== true) {
      events.push({ kind: 'error', text: `${call.method} failed: ${str(response.error) || `HTTP ${call.status}`}` });
      return;
    }
    const channel = str(params.channel) || str(response.channel);
    switch (call.method) {
      case 'chat.postMessage':
      case 'chat.postEphemeral': {
        const ephemeral = call.method === 'chat.postEphemeral';
        const ts = ephemeral ? str(response.message_ts) : str(response.ts);
        const stored: Stored = { channel, ts, text: str(params.text), ephemeral };
        if (Array.isArray(params.blocks)) stored.blocks = params.blocks as Json[];
        if (str(params.thread_ts)) stored.threadTs = str(params.thread_ts);
        this.#remember(stored);
        events.push({ kind: ephemeral ? 'ephemeral' : 'post', key: `${channel}:${ts}`, snapshot: { ...stored } });
        break;
      }
      case 'chat.update': {
        const key = `${channel}:${str(params.ts)}`;
        const stored = this.#messages.get(key) ?? { channel, ts: str(params.ts), text: '', ephemeral: false };
        if (typeof params.text === 'string') stored.text = params.text;
        if (Array.isArray(params.blocks)) stored.blocks = params.blocks as Json[];
        this.#remember(stored);
        events.push({ kind: 'edit', key, snapshot: { ...stored } });
        break;
      }
      case 'chat.startStream':
      case 'chat.appendStream':
      case 'chat.stopStream': {
        const ts = str(params.ts) || str(response.ts);
        const key = `${channel}:${ts}`;
        const stored = this.#messages.get(key) ?? {
          channel,
          ts,
          text: '',
          ephemeral: false,
          ...(str(params.thread_ts) ? { threadTs: str(params.thread_ts) } : {}),
        };
        stored.text += str(params.markdown_text);
        stored.streaming = call.method === 'chat.stopStream' ? 'stopped' : 'open';
        if (Array.isArray(params.blocks)) stored.blocks = params.blocks as Json[];
        this.#remember(stored);
        events.push({ kind: 'stream', key, snapshot: { ...stored } });
        break;
      }
      case 'views.open':
      case 'views.update':
      case 'views.push': {
        const view = viewFrom(params.view as Json, str((response.view as Json | undefined)?.id) || str(params.view_id));
        this.openView = view;
        events.push({ kind: 'view', key: view.id, view });
        break;
      }
      case 'reactions.add':
        events.push({ kind: 'reaction', text: `:${str(params.name)}: on your message` });
        break;
      case 'assistant.threads.setStatus': {
        const status = str(params.status);
        const previous = events.at(-1);
        if (status && !(previous?.kind === 'status' && previous.text === status)) {
          events.push({ kind: 'status', text: `deskhand ${status}` });
        }
        break;
      }
    }
  }

  #remember(stored: Stored): void {
    this.#messages.set(`${stored.channel}:${stored.ts}`, stored);
    if (stored.channel === this.#channel && !stored.ephemeral && stored.threadTs) this.lastThreadTs = stored.threadTs;
  }

  #label(kind: string, stored: Stored): string {
    const where = [
      stored.channel !== this.#channel ? `in ${channelName(stored.channel)}` : '',
      stored.threadTs && stored.threadTs !== stored.ts ? '↳ thread' : '',
    ]
      .filter(Boolean)
      .join(', ');
    return where ? `${kind} (${where})` : kind;
  }

  #render(event: Event): string[] {
    switch (event.kind) {
      case 'status':
        return labelled('status', [readable(event.text)]);
      case 'reaction':
        return labelled('reaction', [readable(event.text)]);
      case 'error':
        return labelled('slack error', [event.text]);
      case 'view': {
        const place: MessagePlace = { channel: 'modal', ts: event.view.id, ephemeral: true, text: event.view.title };
        const body = renderBlocks(event.view.blocks, this.book, place);
        const submit = event.view.submitLabel ? `(type "submit" to press ${event.view.submitLabel})` : '';
        return labelled(`modal "${readable(event.view.title)}"`, [...body, submit].filter(Boolean));
      }
      default: {
        const stored = event.snapshot;
        const place: MessagePlace = {
          channel: stored.channel,
          ts: stored.ts,
          ephemeral: stored.ephemeral,
          text: stored.text,
          ...(stored.threadTs ? { threadTs: stored.threadTs } : {}),
        };
        let lines: string[] = [];
        if (event.kind === 'stream') {
          lines = readable(stored.text.replace(/\*\*([^*\n]+)\*\*/g, '*$1*'))
            .split('\n')
            .filter((line) => line.trim() !== '');
          if (stored.blocks) lines.push(...renderBlocks(stored.blocks, this.book, place));
          if (stored.streaming === 'open') lines.push('(still streaming…)');
        } else {
          lines = stored.blocks
            ? renderBlocks(stored.blocks, this.book, place)
            : readable(stored.text)
                .split('\n')
                .filter((line) => line.trim() !== '');
        }
        if (lines.length === 0) lines = [''];
        const kind = { post: 'deskhand', edit: 'edited', ephemeral: 'only you', stream: 'deskhand' }[event.kind];
        const previous = this.#shown.get(event.key);
        this.#shown.set(event.key, lines);
        let folded = lines;
        if (event.kind === 'edit' && previous) {
          if (previous.join('\n') === lines.join('\n')) return [];
          folded = fold(lines, new Set(previous));
        } else if (event.kind === 'post' && stored.channel !== this.#channel) {
          // A copy elsewhere (a ticket announced in #triage) shows only what the reader has not just seen.
          folded = fold(lines, new Set(this.#recent));
        }
        this.#recent.push(...lines);
        this.#recent.splice(0, Math.max(0, this.#recent.length - 300));
        return labelled(this.#label(kind, stored), folded);
      }
    }
  }
}
