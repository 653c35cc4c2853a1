/**
 * One person talking to Deskhand through the fake Slack. An input line is:
 *   /ask how long do refunds take?   a slash command (any command)
 *   3                                click button [3]            click File   click the newest button labelled "File"
 *   submit                           submit the open modal with the values it shows
 *   reply what about express?        a message in the thread Deskhand last answered in (no mention needed)
 *   say <text>                       a message in #demo that does not mention Deskhand (a customer's, say)
 *   react ticket                     add :ticket: to the last message said; shortcut   "Create ticket" on it
 *   anything else                    a message that mentions @deskhand in #demo
 * `@file:examples/messages/missing-parcel.txt` anywhere in a line is replaced by that file's text.
 * Every request is signed and sent through `SlackDriver`; then the session waits until the app has settled (no
 * new Slack call for 1.6 s, bounded) and returns the lines a Slack user would have seen.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type SlackRequest, slackPayloads } from '../../test/fakes/slack-driver.ts';
import { type DemoEnvironment, demoIds, repositoryRoot } from './environment.ts';
import type { DemoButton } from './render.ts';
import { labelled, Transcript, viewFrom } from './transcript.ts';

type Json = Record<string, unknown>;

export const inputHelp = [
  'Type a message to mention @deskhand in #demo, or:',
  '  /ask …  /ticket …  /agent …  /budget  /docs    slash commands',
  '  3   or   click File                           click a button',
  '  submit                                        submit the open modal as it is filled in',
  '  reply …                                       answer in the thread Deskhand last replied in',
  '  say …   then   react ticket   or   shortcut   a message without a mention; 🎫 or "Create ticket" on it',
  '  @file:examples/messages/missing-parcel.txt    anywhere in a line: that file’s text',
  '  help   quit',
];

/**
 * Settled = no new Slack call for this long. A little over a second because the app paces the edits of one
 * message at least 1.5 s apart (a streamed `/ask` answer), and a shorter pause would stop at "Still writing…".
 */
export const defaultQuietMs = 1600;

export interface SettleOptions {
  /** No new Slack call for this long means settled (default `defaultQuietMs`). */
  quietMs?: number;
  /** Give up waiting for a first call after this (default 4 s). */
  firstCallMs?: number;
  /** Never wait longer than this (default 25 s). */
  maxMs?: number;
}

export class DemoSession {
  readonly transcript: Transcript;
  readonly #env: DemoEnvironment;
  /** The last message said with `say` (what `react` and `shortcut` act on). */
  #said: { ts: string; text: string } | undefined;

  constructor(env: DemoEnvironment) {
    this.#env = env;
    this.transcript = new Transcript(env.slack, demoIds.channel);
  }

  /** Sends one input line; resolves with the echo and everything shown until the app settled. */
  async input(line: string, settle: SettleOptions = {}): Promise<string[]> {
    const shown = [...this.transcript.drain()];
    const text = expandFiles(line.trim());
    let request: SlackRequest | undefined;
    // What was sent, with any @file: already replaced by the text it stands for.
    let echo = `you › ${text}`;
    const click = /^(?:click\s+)?(\d+)$/i.exec(text) ?? /^click\s+(.+)$/i.exec(text);
    if (click?.[1]) {
      const button = /^\d+$/.test(click[1])
        ? this.transcript.book.byNumber(Number(click[1]))
        : this.transcript.book.byLabel(click[1]);
      if (!button) return [...shown, echo, ...this.#noButton(click[1])];
      echo = `you › clicked [${button.number}] ${button.label}`;
      request = this.#click(button);
    } else if (/^submit$/i.test(text)) {
      const view = this.transcript.openView;
      if (!view) return [...shown, echo, '  (no modal is open)'];
      echo = `you › submitted "${view.title}"`;
      const response = await this.#env.driver.send(
        slackPayloads.viewSubmission({
          callbackId: view.callbackId,
          values: submittedValues(view.blocks),
          privateMetadata: view.privateMetadata,
          viewId: view.id,
          user: demoIds.user,
        }),
      );
      this.transcript.openView = undefined;
      return [...shown, echo, ...this.#viewAck(response.body), ...(await this.settle(settle))];
    } else if (/^(say\s|react\b|shortcut\b)/i.test(text)) {
      const built = this.#customerMessage(text);
      if (typeof built === 'string') return [...shown, echo, `  (${built})`];
      request = built;
    } else if (text.startsWith('/')) {
      request = slackPayloads.slashCommand({
        command: text.split(/\s+/)[0] ?? '/ask',
        text: text.replace(/^\/\S+\s*/, ''),
        channel: demoIds.channel,
        channelName: 'demo',
        user: demoIds.user,
        userName: 'you',
      });
    } else {
      const reply = /^reply\s+([\s\S]+)$/i.exec(text);
      const threadTs = this.transcript.lastThreadTs;
      if (reply?.[1] && !threadTs) return [...shown, echo, '  (there is no thread to reply in yet)'];
      const body = reply?.[1] ?? `<@${this.#env.slack.botUserId}> ${text}`;
      request =
        reply?.[1] && threadTs
          ? slackPayloads.threadMessage({ threadTs, text: body, channel: demoIds.channel, user: demoIds.user })
          : slackPayloads.appMention({ text: body, channel: demoIds.channel, user: demoIds.user });
      // Slack has the message too: seed it so thread context (conversations.replies) finds it.
      const event = request.payload.event as Json;
      this.#env.slack.addMessage({
        channel: demoIds.channel,
        text: body,
        user: demoIds.user,
        ts: String(event.ts),
        ...(reply?.[1] && threadTs ? { threadTs } : {}),
      });
    }
    const response = await this.#env.driver.send(request);
    const ack = response.status === 200 ? this.#ackBody(response.body) : [`  (Slack got HTTP ${response.status})`];
    return [...shown, echo, ...ack, ...(await this.settle(settle))];
  }

  /**
   * Waits until no Slack call arrived for `quietMs` (bounded) and returns what was shown meanwhile. When this
   * input caused no call at all, gives up after `firstCallMs` (0: only wait for the quiet after earlier calls).
   */
  async settle(options: SettleOptions = {}): Promise<string[]> {
    const quietMs = options.quietMs ?? defaultQuietMs;
    const firstCallMs = options.firstCallMs ?? 4000;
    const { slack, app } = this.#env;
    const started = Date.now();
    const before = slack.calls.length;
    while (Date.now() - started < (options.maxMs ?? 25_000) && app.exitCode === null) {
      await sleep(100);
      const now = Date.now();
      const quietFor = now - (slack.calls.at(-1)?.receivedAt ?? 0);
      if (slack.calls.length > before || firstCallMs === 0 ? quietFor >= quietMs : now - started >= firstCallMs) break;
    }
    return this.transcript.drain();
  }

  /** `say …` (a plain message, seeded in Slack), `react <emoji>` and `shortcut` on the last one said. */
  #customerMessage(text: string): SlackRequest | string {
    const said = /^say\s+([\s\S]+)$/i.exec(text)?.[1];
    if (said) {
      const request = slackPayloads.message({ text: said, channel: demoIds.channel, user: demoIds.user });
      const ts = String((request.payload.event as Json).ts);
      this.#env.slack.addMessage({ channel: demoIds.channel, text: said, user: demoIds.user, ts });
      this.#said = { ts, text: said };
      return request;
    }
    if (!this.#said) return 'say a message first: "say <text>", then react or shortcut';
    if (/^shortcut\b/i.test(text)) {
      return slackPayloads.messageAction({
        callbackId: 'create_ticket',
        user: demoIds.user,
        channel: demoIds.channel,
        messageText: this.#said.text,
        messageUser: demoIds.user,
        messageTs: this.#said.ts,
      });
    }
    const reaction = /^react\s+:?([a-z0-9_+-]+):?$/i.exec(text)?.[1] ?? 'ticket';
    return slackPayloads.reactionAdded({
      reaction,
      user: demoIds.user,
      channel: demoIds.channel,
      itemTs: this.#said.ts,
      itemUser: demoIds.user,
    });
  }

  #click(button: DemoButton): SlackRequest {
    return slackPayloads.blockActions({
      actionId: button.actionId,
      value: button.value,
      blockId: button.blockId,
      user: demoIds.user,
      channel: button.channel === 'modal' ? demoIds.channel : button.channel,
      messageTs: button.messageTs,
      isEphemeral: button.ephemeral,
      ...(button.threadTs ? { threadTs: button.threadTs } : {}),
      ...(button.ephemeral ? {} : { message: button.message }),
    });
  }

  #noButton(wanted: string): string[] {
    const visible = this.transcript.book.visible();
    return [`  (no button "${wanted}"; on screen: ${visible.length > 0 ? visible.join('  ') : 'none'})`];
  }

  /** A slash command's HTTP reply is shown to its sender only (Bolt acks with text for some errors). */
  #ackBody(body: string): string[] {
    if (!body.trim()) return [];
    try {
      const parsed = JSON.parse(body) as Json;
      const text = typeof parsed.text === 'string' ? parsed.text : '';
      return text ? labelled('only you', text.split('\n')) : [];
    } catch {
      return labelled('only you', [body.trim()]);
    }
  }

  /** A modal submission's ack: field errors, a replacement view, or the modal closes. */
  #viewAck(body: string): string[] {
    let parsed: Json = {};
    try {
      parsed = body.trim() ? (JSON.parse(body) as Json) : {};
    } catch {
      return labelled('modal', [body.trim()]);
    }
    if (parsed.response_action === 'errors') {
      const errors = Object.entries((parsed.errors as Record<string, string> | undefined) ?? {});
      return labelled(
        'modal errors',
        errors.map(([field, message]) => `${field}: ${message}`),
      );
    }
    if ((parsed.response_action === 'update' || parsed.response_action === 'push') && parsed.view) {
      const view = viewFrom(parsed.view as Json, 'ack');
      this.transcript.openView = view.submitLabel ? view : undefined;
      const lines = view.blocks.map((block) => String(((block.text as Json | undefined)?.text as string) ?? ''));
      return labelled(`modal "${view.title}"`, lines.filter(Boolean));
    }
    return ['  (modal closed)'];
  }
}

function expandFiles(text: string): string {
  return text.replace(/@file:(\S+)/g, (_, path: string) =>
    readFileSync(join(repositoryRoot, path), 'utf8')
      .trim()
      .replace(/\s*\n\s*/g, ' '),
  );
}

/** `state.values` for a modal's input blocks, holding exactly the values it was opened with. */
function submittedValues(blocks: Json[]): Record<string, Record<string, Json>> {
  const values: Record<string, Record<string, Json>> = {};
  for (const block of blocks) {
    if (block.type !== 'input') continue;
    const element = (block.element as Json | undefined) ?? {};
    const actionId = String(element.action_id ?? 'input');
    const type = String(element.type ?? 'plain_text_input');
    let state: Json;
    if (type === 'static_select' || type === 'radio_buttons') {
      state = { type, selected_option: element.initial_option ?? null };
    } else if (type === 'multi_static_select' || type === 'checkboxes') {
      state = { type, selected_options: element.initial_options ?? [] };
    } else if (type === 'datepicker') {
      state = { type, selected_date: element.initial_date ?? null };
    } else {
      state = { type, value: typeof element.initial_value === 'string' ? element.initial_value : null };
    }
    values[String(block.block_id ?? '')] = { [actionId]: state };
  }
  return values;
}
