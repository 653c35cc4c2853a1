/**
 * The Slack side of the isolation scenario: the fake Web API, the fake OpenAI server and a file host standing in
 * for files.slack.com (on 127.0.0.1 like the fake API, so the app's download allow-list lets the bot token go
 * there), plus the requests a person would make — a `/budget`, a file shared with a mention, a `/ticket` — and
 * the readers that find, among the calls the fake Slack recorded, the answer each request got and when.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeOpenAIServer } from '../../test/fakes/openai-server.ts';
import {
  type SlackDriver,
  type SlackDriverResponse,
  type SlackRequest,
  slackPayloads,
} from '../../test/fakes/slack-driver.ts';
import { FakeSlackWebApi, type RecordedCall } from '../../test/fakes/slack-web-api.ts';

export const team = 'T111';

export interface Stage {
  slack: FakeSlackWebApi;
  openai: FakeOpenAIServer;
  filesUrl: string;
  /** Bytes served at `/files-pri/<team>-<fileId>/download/<name>` to the bot token. */
  files: Map<string, Buffer>;
  close: () => Promise<void>;
}

export async function startStage(): Promise<Stage> {
  const slack = await FakeSlackWebApi.start();
  const openai = await FakeOpenAIServer.start({ whenEmpty: 'default', validate: false });
  const files = new Map<string, Buffer>();
  const server: Server = createServer((request, response) => {
    const bytes = files.get(request.url ?? '');
    if (request.headers.authorization !== `Bearer ${slack.token}`) response.writeHead(403).end('no token');
    else if (!bytes) response.writeHead(404).end('no such file');
    else response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const filesUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await slack.close();
    await openai.close();
  };
  return { slack, openai, filesUrl, files, close };
}

/** A signed `file_shared` event (the envelope of the file_share fixture, the event Slack documents). */
function fileSharedEvent(fileId: string, channel: string, user: string): SlackRequest {
  const carrier = slackPayloads.fileShare({ channel, fileId, user });
  const event = carrier.payload.event as { event_ts: string };
  return {
    kind: 'event',
    payload: {
      ...carrier.payload,
      event: {
        type: 'file_shared',
        file_id: fileId,
        user_id: user,
        file: { id: fileId },
        channel_id: channel,
        event_ts: event.event_ts,
      },
    },
  };
}

export interface SharedFileInput {
  fileId: string;
  name: string;
  mimetype: string;
  bytes: Buffer;
  channel: string;
  user: string;
}

/**
 * Shares a file with a mention of the bot the way Slack reports it: the message exists (conversations.history),
 * files.info lists the share, and the app receives `app_mention`, the `file_share` message and `file_shared`.
 * Returns the sharing message's ts (the reply goes into its thread).
 */
export async function shareFile(stage: Stage, driver: SlackDriver, input: SharedFileInput): Promise<string> {
  const path = `/files-pri/${team}-${input.fileId}/download/${input.name}`;
  stage.files.set(path, input.bytes);
  const download = `${stage.filesUrl}${path}`;
  const file = {
    id: input.fileId,
    name: input.name,
    title: input.name,
    mimetype: input.mimetype,
    filetype: input.name.split('.').at(-1),
    size: input.bytes.length,
    mode: 'hosted',
    is_external: false,
    user: input.user,
    url_private: download,
    url_private_download: download,
    permalink: `https://acme.slack.com/files/${input.user}/${input.fileId}/${input.name}`,
  };
  const text = '<@U0BOT> please add this';
  const shared = stage.slack.addMessage({ channel: input.channel, user: input.user, text, files: [file] });
  stage.slack.addFile({ ...file, shares: { public: { [input.channel]: [{ ts: shared.ts, reply_count: 0 }] } } });
  const options = { timeoutMs: 10_000 };
  const quiet = (promise: Promise<SlackDriverResponse>) => promise.catch(() => undefined);
  await quiet(
    driver.send(slackPayloads.appMention({ text, ts: shared.ts, channel: input.channel, user: input.user }), options),
  );
  await quiet(
    driver.send(
      slackPayloads.fileShare({ channel: input.channel, ts: shared.ts, fileId: input.fileId, text, user: input.user }),
      options,
    ),
  );
  await quiet(driver.send(fileSharedEvent(input.fileId, input.channel, input.user), options));
  return shared.ts;
}

/** A signed slash command; resolves with the ack (status 0 when it did not come within 10 s). */
export async function slashCommand(
  driver: SlackDriver,
  command: string,
  text: string,
  channel: string,
  user: string,
): Promise<{ status: number; ackMs: number }> {
  const started = performance.now();
  const request = slackPayloads.slashCommand({
    command,
    text,
    channel,
    user,
    responseUrl: `https://hooks.slack.com/commands/${team}/1/${randomUUID()}`,
  });
  const response = await driver.send(request, { timeoutMs: 10_000 }).catch(() => undefined);
  return { status: response?.status ?? 0, ackMs: performance.now() - started };
}

export interface Answer {
  /** `performance.now()` when the fake Slack received it. */
  atMs: number;
  method: string;
  text: string;
  /** Whether it carried blocks with buttons (a ticket card). */
  card: boolean;
}

function answerOf(call: RecordedCall): Answer {
  const blocks = JSON.stringify(call.params.blocks ?? []);
  return {
    atMs: call.receivedAtMonotonic,
    method: call.method,
    text: String(call.params.text ?? ''),
    card: /"type":"actions"|"type":"button"/.test(blocks),
  };
}

const postMethods = new Set(['chat.postMessage', 'chat.postEphemeral', 'chat.update', 'views.open']);
/** Progress texts of a file being added (src/capabilities/answers/shared-files.ts, add-shared-file.ts). */
const progressText = /^:(hourglass_flowing_sand|page_facing_up|scissors|brain|card_index_dividers):/;

/** The first ephemeral reply to `user` in `channel` received at or after call `fromSequence`. */
export function ephemeralReply(
  slack: FakeSlackWebApi,
  channel: string,
  user: string,
  fromSequence = 0,
): Answer | undefined {
  const call = slack.calls.find(
    (candidate) =>
      candidate.sequence >= fromSequence &&
      candidate.method === 'chat.postEphemeral' &&
      candidate.params.channel === channel &&
      candidate.params.user === user,
  );
  return call ? answerOf(call) : undefined;
}

/** Indexes `/budget` replies by user as calls arrive (each sample has its own user id). */
export class EphemeralIndex {
  #seen = 0;
  readonly byUser = new Map<string, number>();
  readonly #slack: FakeSlackWebApi;
  readonly #channels: ReadonlySet<string>;
  constructor(slack: FakeSlackWebApi, channels: readonly string[]) {
    this.#slack = slack;
    this.#channels = new Set(channels);
  }
  refresh(): void {
    const calls = this.#slack.calls;
    for (; this.#seen < calls.length; this.#seen += 1) {
      const call = calls[this.#seen];
      if (call?.method !== 'chat.postEphemeral' || !this.#channels.has(String(call.params.channel))) continue;
      const user = String(call.params.user);
      if (!this.byUser.has(user)) this.byUser.set(user, call.receivedAtMonotonic);
    }
  }
}

/**
 * The final answer to a file shared in `channel` by `user` at `shareTs`: the progress message in the share's
 * thread once updated past progress, or an ephemeral to the sharer, whichever comes first.
 */
export function fileShareAnswer(
  slack: FakeSlackWebApi,
  channel: string,
  user: string,
  shareTs: string,
): Answer | undefined {
  const threadMessages = new Set<string>();
  for (const call of slack.calls) {
    if (!postMethods.has(call.method) || call.params.channel !== channel) continue;
    const text = String(call.params.text ?? '');
    if (call.method === 'chat.postMessage' && call.params.thread_ts === shareTs) {
      const ts = (call.response as { ts?: string } | undefined)?.ts;
      if (ts) threadMessages.add(ts);
      if (!progressText.test(text)) return answerOf(call);
    } else if (call.method === 'chat.update' && threadMessages.has(String(call.params.ts))) {
      if (!progressText.test(text)) return answerOf(call);
    } else if (call.method === 'chat.postEphemeral' && call.params.user === user) {
      return answerOf(call);
    }
  }
  return undefined;
}

/** The first message, card or ephemeral in `channel` (or a modal) from call `fromSequence` on. */
export function ticketAnswer(slack: FakeSlackWebApi, channel: string, fromSequence: number): Answer | undefined {
  const call = slack.calls.find(
    (candidate) =>
      candidate.sequence >= fromSequence &&
      postMethods.has(candidate.method) &&
      (candidate.method === 'views.open' || candidate.params.channel === channel),
  );
  return call ? answerOf(call) : undefined;
}
