/**
 * Files shared in Slack on the work side: `file_shared` → files.info → the sharing message → ingestion into the
 * channel's scope (only with a mention), and `/docs add`'s resolver. Real SlackMessenger against the fake
 * Slack Web API, real ingestion into an in-memory embedded index, real Redis for the record of recent shares.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import {
  createFileSharedHandler,
  createFileShareMentionCheck,
  createSharedFileResolver,
  mentionsUser,
  RecentFileShares,
} from '../../src/capabilities/answers/shared-files.ts';
import { UploaderStore } from '../../src/capabilities/answers/uploader-store.ts';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { routeMentionByRules } from '../../src/router/route-rules.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';

const team = 'T111';
const channel = 'C111';
const keyPrefix = `test:${randomUUID()}:`;

let slack: FakeSlackWebApi;
let redis: Redis;
let messenger: SlackMessenger;
let index: EmbeddedVectorIndex;
let recentShares: RecentFileShares;
let handler: ReturnType<typeof createFileSharedHandler>;
let botUserId: string | undefined;
const contents = new Map<string, string>();
const downloads: string[] = [];

before(async () => {
  slack = await FakeSlackWebApi.start();
  redis = new Redis({ maxRetriesPerRequest: 2 });
  messenger = new SlackMessenger({
    client: createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5_000 }),
    logger: createSilentLogger(),
    postIntervalMs: 5,
    updatesPerMinute: 6_000,
    updateBurst: 100,
  });
  index = new EmbeddedVectorIndex({ sync: false });
  await index.ensureReady();
  recentShares = new RecentFileShares(redis, { keyPrefix });
  handler = createFileSharedHandler({
    messenger,
    index,
    uploaders: new UploaderStore(redis, { keyPrefix }),
    ingest: (input, onProgress) =>
      ingestDocument(input, {
        index,
        callScope: { workspaceId: input.workspaceId, channelId: 'ingestion' },
        onProgress,
      }),
    fetchFile: async (url) => {
      downloads.push(url);
      const text = contents.get(url);
      if (text === undefined) throw new Error(`no such file ${url}`);
      return new TextEncoder().encode(text);
    },
    maxUploadBytes: 1024 * 1024,
    isAdmin: () => false,
    botUserId: () => botUserId,
    recentShares,
  });
});

after(async () => {
  await messenger?.drain();
  await index?.close();
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis?.quit();
  await slack?.close();
});

beforeEach(() => {
  slack.reset();
  botUserId = 'U0BOT';
  downloads.length = 0;
});

/** Seeds a message sharing one file, and the file as files.info returns it. */
function share(options: {
  fileId: string;
  name: string;
  text: string;
  content?: string;
  threadTs?: string;
  external?: boolean;
  channelId?: string;
  mimetype?: string;
}) {
  const channelId = options.channelId ?? channel;
  const download = `https://files.slack.com/files-pri/${team}-${options.fileId}/download/${options.name}`;
  const file = {
    id: options.fileId,
    name: options.name,
    title: options.name,
    mimetype: options.mimetype ?? 'text/plain',
    size: (options.content ?? '').length,
    user: 'W222',
    mode: options.external ? 'external' : 'hosted',
    is_external: options.external === true,
    ...(options.external
      ? {}
      : {
          url_private: `https://files.slack.com/files-pri/${team}-${options.fileId}/${options.name}`,
          url_private_download: download,
        }),
    permalink: `https://acme.slack.com/files/W222/${options.fileId}/${options.name}`,
  };
  if (options.content !== undefined) contents.set(download, options.content);
  const message = slack.addMessage({
    channel: channelId,
    user: 'W222',
    text: options.text,
    files: [file],
    ...(options.threadTs ? { threadTs: options.threadTs } : {}),
  });
  const entry = { ts: message.ts, ...(options.threadTs ? { thread_ts: options.threadTs } : {}), reply_count: 0 };
  slack.addFile({ ...file, shares: { private: { [channelId]: [entry] } } });
  return { message, download };
}

const event = (fileId: string, channelId: string | undefined = channel, userId = 'W222') => ({
  workspaceId: team,
  fileId,
  channelId,
  userId,
  requestId: randomUUID(),
});

describe('SlackMessenger.fileInfo', () => {
  test('reads the download URL, the sharer and every share (public and private, with thread roots)', async () => {
    slack.addFile({
      id: 'F0INFO',
      name: 'a.md',
      url_private: 'https://files.slack.com/files-pri/T111-F0INFO/a.md',
      url_private_download: 'https://files.slack.com/files-pri/T111-F0INFO/download/a.md',
      size: 12,
      user: 'W222',
      shares: {
        public: { C111: [{ ts: '1700000000.000100' }] },
        private: { G222: [{ ts: '1700000000.000300', thread_ts: '1700000000.000200' }] },
      },
    });
    const details = await messenger.fileInfo('F0INFO');
    assert.equal(details?.urlPrivate, 'https://files.slack.com/files-pri/T111-F0INFO/download/a.md');
    assert.equal(details?.size, 12);
    assert.equal(details?.user, 'W222');
    assert.deepEqual(details?.shares, [
      { channel: 'C111', ts: '1700000000.000100' },
      { channel: 'G222', ts: '1700000000.000300', threadTs: '1700000000.000200' },
    ]);
  });

  test('an unknown file is undefined, not an error', async () => {
    assert.equal(await messenger.fileInfo('F0MISSING'), undefined);
  });
});

describe('file_shared handler', () => {
  test('a file shared with a mention is added to the channel’s documents, with the result in its thread', async () => {
    const { message, download } = share({
      fileId: 'F0MENTION',
      name: 'parcel-lockers.md',
      text: '<@U0BOT> add this please',
      content: '# Parcel lockers\n\nParcel lockers keep returns for 72 hours.',
    });
    await handler(event('F0MENTION'));
    await messenger.drain();
    assert.deepEqual(downloads, [download]);
    const documents = await index.listDocuments({ workspaceId: team, channelId: channel });
    const added = documents.find((document) => document.title === 'parcel-lockers.md');
    assert.equal(added?.scope, `channel:${channel}`);
    assert.deepEqual(
      (await index.listDocuments({ workspaceId: team, channelId: 'C999' })).filter((d) => d.title === added?.title),
      [],
    );
    const replies = slack.thread(channel, message.ts).slice(1);
    assert.equal(replies.length, 1);
    assert.match(replies[0]?.text ?? '', /Added \*parcel-lockers\.md\* in this channel’s documents \(1 sections\)/);
    slack.expectNoViolations();
  });

  test('a file shared in a thread with a mention gets its result in that thread', async () => {
    const root = slack.addMessage({ channel, user: 'W222', text: 'locker questions' });
    share({
      fileId: 'F0THREAD',
      name: 'locker-sizes.md',
      text: 'here you go <@U0BOT|deskhand>',
      content: '# Locker sizes\n\nLockers fit parcels up to 60 cm.',
      threadTs: root.ts,
    });
    await handler(event('F0THREAD'));
    await messenger.drain();
    const replies = slack.thread(channel, root.ts).slice(1);
    assert.match(replies.at(-1)?.text ?? '', /Added \*locker-sizes\.md\*/);
  });

  test('a file shared without a mention is recorded for /docs add but neither downloaded nor answered', async () => {
    const { message } = share({ fileId: 'F0QUIET', name: 'quiet.md', text: 'for the team', content: '# Quiet' });
    await handler(event('F0QUIET'));
    await messenger.drain();
    assert.deepEqual(downloads, []);
    assert.equal(slack.thread(channel, message.ts).length, 1);
    assert.equal(await recentShares.latest(team, channel, 'W222'), 'F0QUIET');
  });

  test('before Deskhand knows its own user id nothing is downloaded', async () => {
    botUserId = undefined;
    share({ fileId: 'F0EARLY', name: 'early.md', text: '<@U0BOT> add', content: '# Early' });
    await handler(event('F0EARLY'));
    assert.deepEqual(downloads, []);
    assert.equal(slack.callsTo('files.info').length, 0);
  });

  test('an external file shared with a mention gets a clear reason instead of a download', async () => {
    const { message } = share({ fileId: 'F0DRIVE', name: 'drive-doc', text: '<@U0BOT> add', external: true });
    await handler(event('F0DRIVE'));
    await messenger.drain();
    assert.deepEqual(downloads, []);
    assert.match(slack.thread(channel, message.ts).at(-1)?.text ?? '', /cannot add \*drive-doc\*: it is not stored/);
  });

  test('a file whose share is in another channel than the event’s is ignored', async () => {
    share({ fileId: 'F0ELSEWHERE', name: 'x.md', text: '<@U0BOT> add', content: '# X', channelId: 'C777' });
    await handler(event('F0ELSEWHERE', channel));
    assert.deepEqual(downloads, []);
  });

  test('recognises both mention forms and nothing else', () => {
    assert.equal(mentionsUser('hi <@U0BOT>', 'U0BOT'), true);
    assert.equal(mentionsUser('hi <@U0BOT|deskhand>', 'U0BOT'), true);
    assert.equal(mentionsUser('hi <@U0BOTX>', 'U0BOT'), false);
    assert.equal(mentionsUser('hi @U0BOT', 'U0BOT'), false);
  });
});

describe('/docs add file resolver', () => {
  const request = (overrides: Partial<CapabilityRequest> = {}): CapabilityRequest => ({
    origin: 'command',
    command: '/docs',
    workspaceId: team,
    channelId: channel,
    userId: 'W222',
    text: 'add',
    requestId: randomUUID(),
    route: 'docs',
    threadContext: [],
    ...overrides,
  });
  const resolve = () => createSharedFileResolver({ messenger, recentShares });

  test('picks the newest file the user shared in the channel, as files.info describes it now', async () => {
    share({ fileId: 'F0OLD', name: 'old.md', text: 'old', content: '# Old' });
    await recentShares.record(team, channel, 'W222', 'F0OLD');
    const { download } = share({ fileId: 'F0NEW', name: 'new.md', text: 'new', content: '# New' });
    await recentShares.record(team, channel, 'W222', 'F0NEW');
    const file = await resolve()(request());
    assert.equal(file?.id, 'F0NEW');
    assert.equal(file?.urlPrivate, download);
    assert.equal(file?.permalink, 'https://acme.slack.com/files/W222/F0NEW/new.md');
  });

  test('finds nothing for another user, or for a file no longer shared in the channel', async () => {
    assert.equal(await resolve()(request({ userId: 'W0OTHER' })), undefined);
    share({ fileId: 'F0MOVED', name: 'moved.md', text: 'moved', content: '# Moved', channelId: 'C777' });
    await recentShares.record(team, channel, 'W222', 'F0MOVED');
    assert.equal(await resolve()(request()), undefined);
  });

  test('in a thread, the newest file the user shared in the thread comes first', async () => {
    const root = slack.addMessage({ channel, user: 'W222', text: 'docs' });
    share({ fileId: 'F0INTHREAD', name: 'in-thread.md', text: 'this one', content: '# T', threadTs: root.ts });
    await recentShares.record(team, channel, 'W222', 'F0OTHER');
    const file = await resolve()(request({ origin: 'mention', threadTs: root.ts }));
    assert.equal(file?.id, 'F0INTHREAD');
  });
});

describe('the mention that shares documents', () => {
  const mention = (text: string, messageTs: string, userId = 'W222') => ({
    origin: 'mention' as const,
    workspaceId: team,
    channelId: channel,
    userId,
    text,
    messageTs,
    requestId: randomUUID(),
  });
  const check = () =>
    createFileShareMentionCheck({ messenger, botUserId: () => botUserId, mentionRouteByRules: routeMentionByRules });

  test('is left to file_shared when it only shares documents (no words, or no intent)', async () => {
    const { message } = share({ fileId: 'F0DOCONLY', name: 'a.md', text: '<@U0BOT>', content: '# A' });
    assert.equal(await check()(mention('', message.ts)), true);
    const { message: withWords } = share({ fileId: 'F0DOCWORDS', name: 'b.md', text: '<@U0BOT> our new policy' });
    assert.equal(await check()(mention('our new policy', withWords.ts)), true);
  });

  test('is routed when it asks for something, shares media, carries no file or is someone else’s', async () => {
    const { message } = share({ fileId: 'F0ASK', name: 'c.md', text: '<@U0BOT> ask: what does it say?' });
    assert.equal(await check()(mention('ask: what does it say?', message.ts)), false);
    const { message: screenshot } = share({
      fileId: 'F0PNG',
      name: 'crash.png',
      text: '<@U0BOT>',
      mimetype: 'image/png',
    });
    assert.equal(await check()(mention('', screenshot.ts)), false);
    const plain = slack.addMessage({ channel, user: 'W222', text: '<@U0BOT> hello' });
    assert.equal(await check()(mention('hello', plain.ts)), false);
    const { message: theirs } = share({ fileId: 'F0THEIRS', name: 'd.md', text: '<@U0BOT>' });
    assert.equal(await check()(mention('', theirs.ts, 'W0OTHER')), false);
    assert.equal(await check()({ ...mention('', theirs.ts), origin: 'thread_follow_up' }), false);
  });

  test('a media file shared with a mention is neither downloaded nor answered by file_shared', async () => {
    const { message } = share({
      fileId: 'F0JPG',
      name: 'photo.jpg',
      text: '<@U0BOT> ticket: broken box',
      content: 'not really a jpeg',
      mimetype: 'image/jpeg',
    });
    await handler(event('F0JPG'));
    await messenger.drain();
    assert.deepEqual(downloads, []);
    assert.equal(slack.thread(channel, message.ts).length, 1);
  });
});
