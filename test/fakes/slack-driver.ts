/**
 * Sends correctly signed Slack requests (events, slash commands, interactivity) to a running app over HTTP,
 * built from the real payload fixtures in test/fixtures/slack (ids, text and channel overridden).
 *
 * Usage:
 * ```ts
 * const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret: 'secret-123456' });
 * const reply = await driver.send(slackPayloads.appMention({ text: '<@U0BOT> where is my order?', channel: 'C111' }));
 * reply.status; reply.body; reply.latencyMs;
 * await driver.send(slackPayloads.threadMessage({ threadTs: '1700000000.000100', text: 'and the invoice?' }));
 * await driver.send(slackPayloads.slashCommand({ command: '/ask', text: 'how do refunds work' }));
 * await driver.send(slackPayloads.blockActions({ actionId: 'approval_approve', value: 'req-1' }));
 * // same event again as a Slack retry:
 * await driver.send(envelope, { retryNum: 1, retryReason: 'http_timeout' });
 * // negative cases:
 * await driver.send(envelope, { signingSecret: 'wrong' });               // bad signature
 * await driver.send(envelope, { timestampOffsetSeconds: -6 * 60 });      // stale (older than 5 minutes)
 * await driver.send(envelope, { timestampOffsetSeconds: +10 * 60 });     // far future
 * ```
 * `slackPayloads.*` return a `SlackRequest` ({ kind, payload }) whose `payload` is a plain object you may edit
 * before sending. Every event envelope gets a fresh `event_id` unless you pass one. Signing: `v0=` +
 * hex HMAC-SHA256(signingSecret, `v0:{timestamp}:{rawBody}`) — checked against Slack's published vector in
 * test/unit/slack-fakes.test.ts.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDirectory } from '../support/fixtures.ts';

export const slackFixturesDirectory = `${fixturesDirectory}/slack`;
const payloadDirectory = join(slackFixturesDirectory, 'bolt-python-test-payloads');

type JsonObject = Record<string, unknown>;

/** `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with the signing secret (Slack's scheme). */
export function signSlackRequest(signingSecret: string, timestamp: string | number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

function loadJson(path: string): JsonObject {
  return JSON.parse(readFileSync(path, 'utf8')) as JsonObject;
}

/** A fresh deep copy of a bolt-python payload fixture (by file name). */
export function loadPayloadFixture(fileName: string): JsonObject {
  return loadJson(join(payloadDirectory, fileName));
}

let eventCounter = 0;
/** A unique event id in Slack's format (`Ev` + uppercase alphanumerics). */
export function newEventId(): string {
  eventCounter += 1;
  return `Ev${randomUUID().replaceAll('-', '').slice(0, 8).toUpperCase()}${eventCounter}`;
}

let tsCounter = 0;
/** A unique, increasing message ts ("seconds.micros") near now. */
export function newMessageTs(): string {
  tsCounter += 1;
  const micros = BigInt(Date.now()) * 1000n + BigInt(tsCounter % 1000);
  const text = micros.toString();
  return `${text.slice(0, -6)}.${text.slice(-6)}`;
}

export type SlackRequest =
  | { kind: 'event'; payload: JsonObject }
  | { kind: 'command'; payload: Record<string, string> }
  | { kind: 'interaction'; payload: JsonObject };

/** Ids shared by every builder unless overridden. */
export interface CommonOverrides {
  teamId?: string;
  enterpriseId?: string | null;
  appId?: string;
  /** The installation's bot user id (in `authorizations`). */
  botUserId?: string;
}

export interface EventOverrides extends CommonOverrides {
  eventId?: string;
  channel?: string;
  user?: string;
  text?: string;
  ts?: string;
  threadTs?: string;
}

function envelope(fixture: JsonObject, overrides: EventOverrides, event: JsonObject): SlackRequest {
  const teamId = overrides.teamId ?? 'T111';
  const enterpriseId = overrides.enterpriseId === undefined ? 'E111' : overrides.enterpriseId;
  const eventTs = typeof event.ts === 'string' ? event.ts : (event.event_ts as string | undefined);
  return {
    kind: 'event',
    payload: {
      ...fixture,
      team_id: teamId,
      enterprise_id: enterpriseId,
      api_app_id: overrides.appId ?? 'A111',
      event: { ...event, event_ts: eventTs ?? newMessageTs() },
      event_id: overrides.eventId ?? newEventId(),
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [
        {
          enterprise_id: enterpriseId,
          team_id: teamId,
          user_id: overrides.botUserId ?? 'U0BOT',
          is_bot: true,
          is_enterprise_install: false,
        },
      ],
      event_context: `4-${randomUUID()}`,
      authed_users: [overrides.botUserId ?? 'U0BOT'],
    },
  };
}

function fixtureEvent(fixture: JsonObject): JsonObject {
  return { ...(fixture.event as JsonObject) };
}

/** Builders for real-shaped Slack requests. Each loads its fixture fresh, so results are safe to mutate. */
export const slackPayloads = {
  /** `app_mention` (fixture: event_callback__app_mention__test_app_L334.json). */
  appMention(overrides: EventOverrides = {}): SlackRequest {
    const fixture = loadPayloadFixture('event_callback__app_mention__test_app_L334.json');
    const ts = overrides.ts ?? newMessageTs();
    const event = fixtureEvent(fixture);
    Object.assign(event, {
      client_msg_id: randomUUID(),
      text: overrides.text ?? '<@U0BOT> Hi there!',
      user: overrides.user ?? 'W222',
      ts,
      team: overrides.teamId ?? 'T111',
      channel: overrides.channel ?? 'C111',
      event_ts: ts,
    });
    if (overrides.threadTs !== undefined) event.thread_ts = overrides.threadTs;
    return envelope(fixture, overrides, event);
  },

  /** A plain user `message` (fixture: event_callback__message__test_message_L208.json); top level unless `threadTs`. */
  message(overrides: EventOverrides & { channelType?: string } = {}): SlackRequest {
    const fixture = loadPayloadFixture('event_callback__message__test_message_L208.json');
    const ts = overrides.ts ?? newMessageTs();
    const event = fixtureEvent(fixture);
    Object.assign(event, {
      client_msg_id: randomUUID(),
      text: overrides.text ?? 'Hello',
      user: overrides.user ?? 'W222',
      ts,
      team: overrides.teamId ?? 'T111',
      channel: overrides.channel ?? 'C111',
      event_ts: ts,
      channel_type: overrides.channelType ?? 'channel',
    });
    delete event.blocks;
    if (overrides.threadTs !== undefined) event.thread_ts = overrides.threadTs;
    return envelope(fixture, overrides, event);
  },

  /**
   * A user reply in a thread, without a mention (fixture:
   * event_callback__message__in_thread__test_events_assistant_channel_user_message_event_body.json).
   */
  threadMessage(overrides: EventOverrides & { threadTs: string; parentUserId?: string }): SlackRequest {
    const fixture = loadPayloadFixture(
      'event_callback__message__in_thread__test_events_assistant_channel_user_message_event_body.json',
    );
    const ts = overrides.ts ?? newMessageTs();
    const event = fixtureEvent(fixture);
    Object.assign(event, {
      user: overrides.user ?? 'W222',
      ts,
      text: overrides.text ?? 'And one more question',
      team: overrides.teamId ?? 'T111',
      user_team: overrides.teamId ?? 'T111',
      source_team: overrides.teamId ?? 'T111',
      thread_ts: overrides.threadTs,
      parent_user_id: overrides.parentUserId ?? 'U0BOT',
      channel: overrides.channel ?? 'C111',
      event_ts: ts,
    });
    return envelope(fixture, overrides, event);
  },

  /** Another bot's message, `subtype: bot_message` (fixture: event_callback__message__bot_message__test_message_bot_L173.json). */
  botMessage(overrides: EventOverrides & { botId?: string } = {}): SlackRequest {
    const fixture = loadPayloadFixture('event_callback__message__bot_message__test_message_bot_L173.json');
    const ts = overrides.ts ?? newMessageTs();
    const event = fixtureEvent(fixture);
    Object.assign(event, {
      text: overrides.text ?? 'Hi there! Thanks for sharing the info!',
      ts,
      bot_id: overrides.botId ?? 'B888',
      channel: overrides.channel ?? 'C111',
      event_ts: ts,
    });
    if (overrides.threadTs !== undefined) event.thread_ts = overrides.threadTs;
    return envelope(fixture, overrides, event);
  },

  /** An edit or unfurl: `subtype: message_changed` (fixture: event_callback__message__message_changed__test_message_changed_L68.json). */
  messageChanged(overrides: EventOverrides & { previousText?: string; editorUser?: string } = {}): SlackRequest {
    const fixture = loadPayloadFixture('event_callback__message__message_changed__test_message_changed_L68.json');
    const event = fixtureEvent(fixture);
    const originalTs = overrides.ts ?? newMessageTs();
    const changeTs = newMessageTs();
    const user = overrides.user ?? 'W222';
    const message = { ...(event.message as JsonObject) };
    Object.assign(message, {
      text: overrides.text ?? '<@U0BOT> updated message',
      user,
      ts: originalTs,
      edited: { user: overrides.editorUser ?? user, ts: changeTs },
    });
    delete message.blocks;
    if (overrides.threadTs !== undefined) message.thread_ts = overrides.threadTs;
    const previous = { ...(event.previous_message as JsonObject) };
    Object.assign(previous, { text: overrides.previousText ?? 'original message', user, ts: originalTs });
    delete previous.blocks;
    Object.assign(event, {
      message,
      previous_message: previous,
      channel: overrides.channel ?? 'C111',
      ts: changeTs,
      event_ts: changeTs,
    });
    return envelope(fixture, overrides, event);
  },

  /** A reply also sent to the channel: `subtype: thread_broadcast` (fixture: …thread_broadcast__in_thread…L74.json). */
  threadBroadcast(overrides: EventOverrides & { threadTs: string }): SlackRequest {
    const fixture = loadPayloadFixture(
      'event_callback__message__thread_broadcast__in_thread__test_message_thread_broadcast_L74.json',
    );
    const event = fixtureEvent(fixture);
    const ts = overrides.ts ?? newMessageTs();
    const user = overrides.user ?? 'W222';
    const root = {
      ...(event.root as JsonObject),
      ts: overrides.threadTs,
      thread_ts: overrides.threadTs,
      latest_reply: ts,
    };
    Object.assign(event, {
      text: overrides.text ?? 'Hi there!',
      user,
      ts,
      thread_ts: overrides.threadTs,
      root,
      client_msg_id: randomUUID(),
      channel: overrides.channel ?? 'C111',
      event_ts: ts,
    });
    return envelope(fixture, overrides, event);
  },

  /** A message with a file: `subtype: file_share` (fixture: event_callback__message__file_share__test_message_file_share_L74.json). */
  fileShare(
    overrides: EventOverrides & { fileId?: string; fileName?: string; mimetype?: string; size?: number } = {},
  ): SlackRequest {
    const fixture = loadPayloadFixture('event_callback__message__file_share__test_message_file_share_L74.json');
    const event = fixtureEvent(fixture);
    const ts = overrides.ts ?? newMessageTs();
    const teamId = overrides.teamId ?? 'T111';
    const fileId = overrides.fileId ?? 'F111';
    const fileName = overrides.fileName ?? 'file.png';
    const [file] = event.files as JsonObject[];
    const updatedFile = {
      ...file,
      id: fileId,
      name: fileName,
      title: fileName,
      mimetype: overrides.mimetype ?? file?.mimetype,
      size: overrides.size ?? file?.size,
      user: overrides.user ?? 'W222',
      url_private: `https://files.slack.com/files-pri/${teamId}-${fileId}/${fileName}`,
      url_private_download: `https://files.slack.com/files-pri/${teamId}-${fileId}/download/${fileName}`,
    };
    Object.assign(event, {
      text: overrides.text ?? '',
      files: [updatedFile],
      user: overrides.user ?? 'W222',
      ts,
      client_msg_id: randomUUID(),
      channel: overrides.channel ?? 'C111',
      event_ts: ts,
    });
    delete event.blocks;
    if (overrides.threadTs !== undefined) event.thread_ts = overrides.threadTs;
    return envelope(fixture, overrides, event);
  },

  /** `reaction_added` on a message (fixture: python-slack-events-api/reaction_added.json). */
  reactionAdded(
    overrides: EventOverrides & { reaction?: string; itemUser?: string; itemTs?: string } = {},
  ): SlackRequest {
    const fixture = loadJson(join(slackFixturesDirectory, 'python-slack-events-api/reaction_added.json'));
    const event = fixtureEvent(fixture);
    Object.assign(event, {
      user: overrides.user ?? 'W222',
      item: { type: 'message', channel: overrides.channel ?? 'C111', ts: overrides.itemTs ?? newMessageTs() },
      reaction: overrides.reaction ?? 'ticket',
      item_user: overrides.itemUser ?? 'W333',
      event_ts: overrides.ts ?? newMessageTs(),
    });
    const { authed_users: _legacy, ...rest } = fixture;
    return envelope(rest, overrides, event);
  },

  /** A slash command, form-encoded (fixture: slash_command__form_urlencoded__test_slash_command.txt). */
  slashCommand(
    overrides: CommonOverrides & {
      command: string;
      text?: string;
      user?: string;
      userName?: string;
      channel?: string;
      channelName?: string;
      triggerId?: string;
      responseUrl?: string;
    },
  ): SlackRequest {
    const raw = readFileSync(join(payloadDirectory, 'slash_command__form_urlencoded__test_slash_command.txt'), 'utf8');
    const fields = Object.fromEntries(new URLSearchParams(raw.trim()));
    const teamId = overrides.teamId ?? 'T111';
    Object.assign(fields, {
      team_id: teamId,
      channel_id: overrides.channel ?? 'C111',
      channel_name: overrides.channelName ?? 'support',
      user_id: overrides.user ?? 'W222',
      user_name: overrides.userName ?? 'agent',
      command: overrides.command,
      text: overrides.text ?? '',
      api_app_id: overrides.appId ?? 'A111',
      response_url: overrides.responseUrl ?? `https://hooks.slack.com/commands/${teamId}/111/${randomUUID()}`,
      trigger_id: overrides.triggerId ?? `${Date.now()}.111.${randomUUID().slice(0, 8)}`,
    });
    if (overrides.enterpriseId === null) delete fields.enterprise_id;
    else if (overrides.enterpriseId !== undefined) fields.enterprise_id = overrides.enterpriseId;
    return { kind: 'command', payload: fields };
  },

  /** A button click, `block_actions` (fixture: block_actions__test_block_actions_L161.json). */
  blockActions(
    overrides: CommonOverrides & {
      actionId: string;
      value?: string;
      blockId?: string;
      user?: string;
      channel?: string;
      messageTs?: string;
      threadTs?: string;
      isEphemeral?: boolean;
      triggerId?: string;
      message?: JsonObject;
    },
  ): SlackRequest {
    const payload = loadPayloadFixture('block_actions__test_block_actions_L161.json');
    const teamId = overrides.teamId ?? 'T111';
    const channel = overrides.channel ?? 'C111';
    const messageTs = overrides.messageTs ?? newMessageTs();
    const [action] = payload.actions as JsonObject[];
    Object.assign(payload, {
      user: { ...(payload.user as JsonObject), id: overrides.user ?? 'W222', team_id: teamId },
      api_app_id: overrides.appId ?? 'A111',
      container: {
        type: 'message',
        message_ts: messageTs,
        channel_id: channel,
        is_ephemeral: overrides.isEphemeral ?? false,
        ...(overrides.threadTs === undefined ? {} : { thread_ts: overrides.threadTs }),
      },
      trigger_id: overrides.triggerId ?? `${Date.now()}.111.${randomUUID().slice(0, 8)}`,
      team: { ...(payload.team as JsonObject), id: teamId },
      channel: { ...(payload.channel as JsonObject), id: channel },
      response_url: `https://hooks.slack.com/actions/${teamId}/111/${randomUUID()}`,
      actions: [
        {
          ...action,
          action_id: overrides.actionId,
          block_id: overrides.blockId ?? 'b',
          value: overrides.value ?? '',
          action_ts: newMessageTs(),
        },
      ],
    });
    if (overrides.message !== undefined) payload.message = { ts: messageTs, ...overrides.message };
    return { kind: 'interaction', payload };
  },

  /** A message shortcut, `message_action` (fixture: message_action__test_app_using_methods_in_class_L61.json). */
  messageAction(
    overrides: CommonOverrides & {
      callbackId: string;
      user?: string;
      channel?: string;
      messageText?: string;
      messageUser?: string;
      messageTs?: string;
      threadTs?: string;
      triggerId?: string;
    },
  ): SlackRequest {
    const payload = loadPayloadFixture('message_action__test_app_using_methods_in_class_L61.json');
    const teamId = overrides.teamId ?? 'T111';
    const messageTs = overrides.messageTs ?? newMessageTs();
    const message: JsonObject = {
      ...(payload.message as JsonObject),
      client_msg_id: randomUUID(),
      text: overrides.messageText ?? 'My order #123 never arrived',
      user: overrides.messageUser ?? 'W333',
      ts: messageTs,
      team: teamId,
    };
    delete message.blocks;
    if (overrides.threadTs !== undefined) message.thread_ts = overrides.threadTs;
    Object.assign(payload, {
      action_ts: newMessageTs(),
      team: { ...(payload.team as JsonObject), id: teamId },
      user: { ...(payload.user as JsonObject), id: overrides.user ?? 'W222' },
      channel: { ...(payload.channel as JsonObject), id: overrides.channel ?? 'C111' },
      callback_id: overrides.callbackId,
      trigger_id: overrides.triggerId ?? `${Date.now()}.111.${randomUUID().slice(0, 8)}`,
      message_ts: messageTs,
      message,
      response_url: `https://hooks.slack.com/app/${teamId}/111/${randomUUID()}`,
    });
    return { kind: 'interaction', payload };
  },

  /**
   * A modal submission, `view_submission` (fixture: view_submission__test_view_submission_L17.json).
   * `values` is `state.values`: `{ [blockId]: { [actionId]: { type, value | selected_option … } } }`.
   */
  viewSubmission(
    overrides: CommonOverrides & {
      callbackId: string;
      values?: Record<string, Record<string, JsonObject>>;
      privateMetadata?: string;
      user?: string;
      viewId?: string;
    },
  ): SlackRequest {
    const payload = loadPayloadFixture('view_submission__test_view_submission_L17.json');
    const teamId = overrides.teamId ?? 'T111';
    const view = payload.view as JsonObject;
    const viewId = overrides.viewId ?? `V${randomUUID().replaceAll('-', '').slice(0, 9).toUpperCase()}`;
    Object.assign(payload, {
      team: { ...(payload.team as JsonObject), id: teamId },
      user: { ...(payload.user as JsonObject), id: overrides.user ?? 'W222', team_id: teamId },
      api_app_id: overrides.appId ?? 'A111',
      trigger_id: `${Date.now()}.111.${randomUUID().slice(0, 8)}`,
      view: {
        ...view,
        id: viewId,
        root_view_id: viewId,
        team_id: teamId,
        callback_id: overrides.callbackId,
        private_metadata: overrides.privateMetadata ?? '',
        state: { values: overrides.values ?? (view.state as JsonObject).values },
        app_installed_team_id: teamId,
      },
    });
    return { kind: 'interaction', payload };
  },
};

export interface SendOptions {
  /** Sign with this secret instead of the driver's (a wrong secret must be rejected). */
  signingSecret?: string;
  /** Exact `X-Slack-Request-Timestamp` (seconds). */
  timestamp?: number;
  /** Shift the timestamp from now (negative: stale, positive: future). */
  timestampOffsetSeconds?: number;
  /** Replace the computed `X-Slack-Signature`. */
  signature?: string;
  /** Omit the signature headers entirely. */
  unsigned?: boolean;
  /** `X-Slack-Retry-Num` (Slack's redelivery counter). */
  retryNum?: number;
  /** `X-Slack-Retry-Reason`, e.g. `http_timeout`. */
  retryReason?: string;
  /** Abort the request after this many ms (default 10 s). */
  timeoutMs?: number;
}

export interface SlackDriverResponse {
  status: number;
  /** Raw response body. */
  body: string;
  /** Parsed body when it is JSON. */
  json: unknown;
  headers: Headers;
  /** Time from sending to the full response body (ms). */
  latencyMs: number;
}

/** Sends signed requests to the app under test (e.g. `http://127.0.0.1:3000/slack/events`). */
export class SlackDriver {
  readonly url: string;
  readonly signingSecret: string;

  constructor(options: { url: string; signingSecret: string }) {
    this.url = options.url;
    this.signingSecret = options.signingSecret;
  }

  /** Serialises a request the way Slack does: events as JSON, commands form-encoded, interactions as `payload=`. */
  static encode(request: SlackRequest): { body: string; contentType: string } {
    switch (request.kind) {
      case 'event':
        return { body: JSON.stringify(request.payload), contentType: 'application/json' };
      case 'command':
        return {
          body: new URLSearchParams(request.payload).toString(),
          contentType: 'application/x-www-form-urlencoded',
        };
      case 'interaction':
        return {
          body: new URLSearchParams({ payload: JSON.stringify(request.payload) }).toString(),
          contentType: 'application/x-www-form-urlencoded',
        };
    }
  }

  /** Builds the headers for a raw body. */
  headersFor(body: string, contentType: string, options: SendOptions = {}): Record<string, string> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000) + (options.timestampOffsetSeconds ?? 0);
    const headers: Record<string, string> = { 'content-type': contentType };
    if (!options.unsigned) {
      headers['x-slack-request-timestamp'] = String(timestamp);
      headers['x-slack-signature'] =
        options.signature ?? signSlackRequest(options.signingSecret ?? this.signingSecret, timestamp, body);
    }
    if (options.retryNum !== undefined) headers['x-slack-retry-num'] = String(options.retryNum);
    if (options.retryReason !== undefined) headers['x-slack-retry-reason'] = options.retryReason;
    return headers;
  }

  /** Signs and sends a built request. */
  async send(request: SlackRequest, options: SendOptions = {}): Promise<SlackDriverResponse> {
    const { body, contentType } = SlackDriver.encode(request);
    return this.sendRaw(body, contentType, options);
  }

  /** Signs and sends a raw body (for malformed-input tests). */
  async sendRaw(body: string, contentType: string, options: SendOptions = {}): Promise<SlackDriverResponse> {
    const headers = this.headersFor(body, contentType, options);
    const started = performance.now();
    const response = await fetch(this.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    const latencyMs = performance.now() - started;
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, body: text, json, headers: response.headers, latencyMs };
  }
}
