/**
 * Channel control (issue 15): the policy decision (allow/deny lists, exemptions, the explanation), the router's
 * gate and per-channel mention defaults, and `ChannelControl`'s Slack Connect detection over the real Redis
 * (cache, single flight, fail-closed, invalidation, the workspace's hash tag in the uninstall purge's list).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger, createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { CapabilityRequest, IncomingRequest, Route } from '../../src/ports/capability.ts';
import type { ConversationSharing, Messenger, OutgoingMessage } from '../../src/ports/messenger.ts';
import {
  type ChannelPolicy,
  type WorkspaceSettings,
  type WorkspaceSettingsSource,
  workspaceSettingsSchema,
} from '../../src/ports/workspace-settings.ts';
import { ChannelControl, channelSharingKeyPrefix, isExternallyShared } from '../../src/router/channel-control.ts';
import { admitToChannel, channelClosedMessage } from '../../src/router/channel-policy.ts';
import { completeHandlers } from '../../src/router/default-handlers.ts';
import { Router } from '../../src/router/router.ts';
import { workspaceKeyPrefixes } from '../../src/slack/installations/workspace-purge.ts';
import { toConversationSharing } from '../../src/slack/outbound/file-details.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
const keyPrefix = `test:${randomUUID()}:`;
after(async () => {
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function settingsWith(channels: Partial<ChannelPolicy>, admins: string[] = ['U0ADMIN']): WorkspaceSettings {
  return workspaceSettingsSchema.parse({
    admins,
    approvers: [],
    caps: { channelDailyUsd: 5, channelMonthlyUsd: 50, workspaceDailyUsd: 20 },
    model: 'gpt-4o-mini',
    tickets: { categories: ['bug'] },
    channels: { mode: 'all', channels: [], mentionDefaults: {}, sharedChannelDocuments: 'channel_only', ...channels },
  });
}

const staticSettings = (settings: WorkspaceSettings): WorkspaceSettingsSource => ({ get: async () => settings });

const request = (extra: Partial<IncomingRequest> = {}): IncomingRequest => ({
  origin: 'mention',
  workspaceId: 'T1',
  channelId: 'C111',
  userId: 'U1',
  text: 'the export is empty for customer 4411',
  messageTs: '1700000000.000200',
  requestId: 'event:Ev1',
  ...extra,
});

describe('channel policy', () => {
  test('all admits every channel; allow only the listed; deny all but the listed', () => {
    const cases: [ChannelPolicy['mode'], string, boolean][] = [
      ['all', 'C999', true],
      ['allow', 'C111', true],
      ['allow', 'C999', false],
      ['deny', 'C111', false],
      ['deny', 'C999', true],
    ];
    for (const [mode, channelId, admitted] of cases) {
      const policy = settingsWith({ mode, channels: ['C111'] }).channels;
      assert.equal(admitToChannel(policy, [], request({ channelId })).admitted, admitted, `${mode} ${channelId}`);
    }
  });

  test('direct messages and /budget are exempt; other commands, shortcuts and reactions are not', () => {
    const policy = settingsWith({ mode: 'allow', channels: [] }).channels;
    assert.equal(admitToChannel(policy, [], request({ channelId: 'D0DM' })).admitted, true);
    assert.equal(admitToChannel(policy, [], request({ origin: 'command', command: '/budget' })).admitted, true);
    for (const extra of [
      { origin: 'command' as const, command: '/ask' },
      { origin: 'command' as const, command: '/docs' },
      { origin: 'shortcut' as const },
      { origin: 'reaction' as const },
      { origin: 'thread_follow_up' as const },
    ]) {
      assert.equal(admitToChannel(policy, [], request(extra)).admitted, false, JSON.stringify(extra));
    }
  });

  test('the explanation names the Deskhand admins, or the workspace admins when none are set', () => {
    const refused = admitToChannel(
      settingsWith({ mode: 'deny', channels: ['C111'] }).channels,
      ['U0A', 'U0B'],
      request(),
    );
    assert.equal(refused.admitted, false);
    assert.match(refused.admitted ? '' : refused.userMessage, /not switched on in this channel.*<@U0A>, <@U0B>/);
    assert.match(channelClosedMessage([]), /ask this workspace's admins/);
    const many = channelClosedMessage(['U1', 'U2', 'U3', 'U4', 'U5', 'U6', 'U7']);
    assert.ok(many.includes('<@U5>, …') && !many.includes('<@U6>'), 'at most five are named');
  });

  test('the channel default of a plain mention comes with the admission; unlisted channels are auto', () => {
    const policy = settingsWith({ mentionDefaults: { C111: 'ticket', C222: 'agent' } }).channels;
    assert.deepEqual(admitToChannel(policy, [], request()), { admitted: true, mentionDefault: 'ticket' });
    assert.deepEqual(admitToChannel(policy, [], request({ channelId: 'C222' })), {
      admitted: true,
      mentionDefault: 'agent',
    });
    assert.deepEqual(admitToChannel(policy, [], request({ channelId: 'C333' })), {
      admitted: true,
      mentionDefault: 'auto',
    });
  });
});

class RecordingMessenger implements Messenger {
  readonly posts: OutgoingMessage[] = [];
  readonly ephemerals: (OutgoingMessage & { user: string })[] = [];
  async post(message: OutgoingMessage) {
    this.posts.push(message);
    return { channel: message.channel, ts: '1700000100.000100', allTs: ['1700000100.000100'] };
  }
  async update() {}
  async postEphemeral(message: OutgoingMessage & { user: string }) {
    this.ephemerals.push(message);
  }
  async openView() {
    return { viewId: 'V1' };
  }
  async updateView() {}
  async threadMessages() {
    return [];
  }
  async message() {
    return undefined;
  }
  async permalink() {
    return undefined;
  }
  async drain() {}
}

function routerWith(settings: WorkspaceSettings, replies: string[] = []) {
  const gateway = new ScriptedModel().enqueue(...replies.map((text) => ({ text })));
  const messenger = new RecordingMessenger();
  const seen: CapabilityRequest[] = [];
  const answering = async (capabilityRequest: CapabilityRequest) => {
    seen.push(capabilityRequest);
    return { kind: 'reply' as const, text: `handled as ${capabilityRequest.route}` };
  };
  const control = new ChannelControl({
    settings: staticSettings(settings),
    messenger: {},
    redis,
    keyPrefix,
    logger: createSilentLogger(),
  });
  const threads = new Map<string, Route>();
  const router = new Router({
    gateway,
    messenger,
    threads: {
      remember: async (thread, route) => void threads.set(thread.threadTs, route),
      recall: async (thread) => threads.get(thread.threadTs),
    },
    handlers: completeHandlers({
      question: answering,
      ticket: answering,
      task: answering,
      budget: answering,
      help: answering,
    }),
    logger: createSilentLogger(),
    registry: createMetricsRegistry(),
    classifierModel: 'gpt-4o-mini',
    threadContextTokens: 200,
    encoding: 'o200k_base',
    identity: () => ({ botUserId: 'UBOT', botId: 'BBOT' }),
    channels: control,
  });
  return { router, gateway, messenger, seen, threads };
}

describe('the router asks where Deskhand works', () => {
  test('a mention in a refused channel gets the ephemeral explanation and nothing else', async () => {
    const { router, gateway, messenger, seen } = routerWith(settingsWith({ mode: 'allow', channels: ['C222'] }));
    const outcome = await router.handle(request({ threadTs: '1700000000.000100' }));
    assert.deepEqual(outcome, { status: 'failed', route: undefined, classified: false, code: 'channel_not_allowed' });
    assert.equal(gateway.calls.length, 0, 'no model call');
    assert.equal(seen.length, 0, 'no capability');
    assert.equal(messenger.posts.length, 0, 'nothing visible in the thread');
    assert.equal(messenger.ephemerals.length, 1);
    assert.equal(messenger.ephemerals[0]?.user, 'U1');
    assert.match(messenger.ephemerals[0]?.text ?? '', /not switched on in this channel.*<@U0ADMIN>/);
    assert.match(JSON.stringify(messenger.ephemerals[0]?.blocks), /channel_not_allowed/);
  });

  test('/ask is refused there too, /budget is not', async () => {
    const { router, seen, messenger } = routerWith(settingsWith({ mode: 'deny', channels: ['C111'] }));
    const ask = await router.handle(request({ origin: 'command', command: '/ask', text: 'how do refunds work' }));
    assert.equal(ask.status === 'failed' && ask.code, 'channel_not_allowed');
    const budget = await router.handle(request({ origin: 'command', command: '/budget', text: '' }));
    assert.equal(budget.status, 'done');
    assert.deepEqual(
      seen.map((capabilityRequest) => capabilityRequest.route),
      ['budget'],
    );
    assert.equal(messenger.ephemerals.length, 2);
  });

  test('a plain mention in a ticket channel is a ticket with no classification call', async () => {
    const { router, gateway, seen } = routerWith(settingsWith({ mentionDefaults: { C111: 'ticket' } }));
    const outcome = await router.handle(request({ text: 'How do I reset a customer password?' }));
    assert.deepEqual(outcome, { status: 'done', route: 'ticket', classified: false });
    assert.equal(gateway.calls.length, 0);
    assert.equal(seen[0]?.text, 'How do I reset a customer password?');
  });

  test('explicit prefixes and greetings still win over the channel default; agent means the task route', async () => {
    const { router, gateway } = routerWith(settingsWith({ mentionDefaults: { C111: 'ticket', C222: 'agent' } }));
    assert.equal(
      ((await router.handle(request({ text: 'ask: what is the refund window?' }))) as { route: Route }).route,
      'question',
    );
    assert.equal(((await router.handle(request({ text: 'hi, what can you do?' }))) as { route: Route }).route, 'help');
    const agent = await router.handle(request({ channelId: 'C222', text: 'the export is empty' }));
    assert.deepEqual(agent, { status: 'done', route: 'task', classified: false });
    assert.equal(gateway.calls.length, 0);
  });

  test('auto keeps today’s routing: an ambiguous mention is classified once', async () => {
    const { router, gateway } = routerWith(settingsWith({ mentionDefaults: { C222: 'ticket' } }), [
      '{"route":"question"}',
    ]);
    const outcome = await router.handle(request());
    assert.deepEqual(outcome, { status: 'done', route: 'question', classified: true });
    assert.equal(gateway.calls.length, 1);
  });

  test('settings that cannot be read refuse the request with a coded failure, no model call', async () => {
    const { router: base } = routerWith(settingsWith({}));
    void base;
    const gateway = new ScriptedModel();
    const messenger = new RecordingMessenger();
    const router = new Router({
      gateway,
      messenger,
      threads: { remember: async () => {}, recall: async () => undefined },
      handlers: completeHandlers({}),
      logger: createSilentLogger(),
      registry: createMetricsRegistry(),
      classifierModel: 'gpt-4o-mini',
      threadContextTokens: 200,
      encoding: 'o200k_base',
      identity: () => ({}),
      channels: {
        admit: async () => {
          throw new Error('redis down');
        },
      },
    });
    const outcome = await router.handle(request());
    assert.equal(outcome.status, 'failed');
    assert.equal(gateway.calls.length, 0);
    assert.equal(messenger.posts.length + messenger.ephemerals.length, 1, 'the requester is told');
  });
});

const internal: ConversationSharing = {
  id: 'C111',
  isShared: false,
  isExtShared: false,
  isOrgShared: false,
  isPendingExtShared: false,
  isIm: false,
};

function sharingMessenger(answer: (channel: string) => Promise<ConversationSharing>) {
  const calls: string[] = [];
  return {
    calls,
    messenger: {
      conversationSharing: async (channel: string) => {
        calls.push(channel);
        return answer(channel);
      },
    },
  };
}

function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('Slack Connect detection', () => {
  test('the flags that mean another organisation is (or is about to be) in the channel', () => {
    assert.equal(isExternallyShared(internal), false);
    assert.equal(isExternallyShared({ ...internal, isShared: true, isExtShared: true }), true);
    assert.equal(isExternallyShared({ ...internal, isPendingExtShared: true }), true);
    assert.equal(isExternallyShared({ ...internal, isShared: true }), true, 'shared, not within one org');
    assert.equal(isExternallyShared({ ...internal, isShared: true, isOrgShared: true }), false, 'one Grid org');
  });

  test("conversations.info's channel object becomes the port's flags (Slack's own example)", () => {
    const example = { id: 'C012AB3CD', is_shared: true, is_ext_shared: true, is_org_shared: false, is_im: false };
    assert.deepEqual(toConversationSharing(example, 'C012AB3CD'), {
      id: 'C012AB3CD',
      isShared: true,
      isExtShared: true,
      isOrgShared: false,
      isPendingExtShared: false,
      isIm: false,
    });
    assert.equal(toConversationSharing({ is_ext_shared: 'true' }, 'C111').isExtShared, false, 'only a real true');
  });

  test('a shared channel reads channel-only, cached per workspace under its hash tag; 30 at once ask Slack once', async () => {
    const workspaceId = `T${randomUUID().slice(0, 8).toUpperCase().replaceAll('-', '')}`;
    const { calls, messenger } = sharingMessenger(async (channel) => ({
      ...internal,
      id: channel,
      isShared: true,
      isExtShared: true,
    }));
    const control = new ChannelControl({
      settings: staticSettings(settingsWith({})),
      messenger,
      redis,
      keyPrefix,
      logger: createSilentLogger(),
    });
    const scopes = await Promise.all(
      Array.from({ length: 30 }, () => control.documentAccess({ workspaceId, channelId: 'C555' })),
    );
    assert.ok(scopes.every((scope) => scope.channelOnly === true && scope.channelId === 'C555'));
    assert.deepEqual(calls, ['C555'], 'one conversations.info for 30 concurrent lookups');
    await control.documentAccess({ workspaceId, channelId: 'C555' });
    assert.equal(calls.length, 1, 'served from the cache');
    const key = `${keyPrefix}${channelSharingKeyPrefix(workspaceId)}C555`;
    assert.equal(await redis.get(key), 'external');
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 60 && ttl <= 600, `ttl ${ttl}`);
    assert.ok(
      workspaceKeyPrefixes(workspaceId).some(
        (kind) => key.slice(keyPrefix.length).startsWith(kind.prefix) && kind.label === 'channel_sharing',
      ),
      'the uninstall purge deletes it as channel sharing',
    );
    // Another workspace's channel with the same id is looked up on its own.
    await control.documentAccess({ workspaceId: `${workspaceId}X`, channelId: 'C555' });
    assert.equal(calls.length, 2);
    // Slack said the channel was unshared: the next request asks again.
    await control.forget(workspaceId, 'C555');
    await control.documentAccess({ workspaceId, channelId: 'C555' });
    assert.equal(calls.length, 3);
  });

  test('an internal channel, or an admin who allowed workspace documents, keeps the usual scope', async () => {
    const workspaceId = `T${randomUUID().slice(0, 8).toUpperCase().replaceAll('-', '')}`;
    const inside = sharingMessenger(async () => internal).messenger;
    const open = new ChannelControl({
      settings: staticSettings(settingsWith({})),
      messenger: inside,
      redis,
      keyPrefix,
      logger: createSilentLogger(),
    });
    assert.deepEqual(await open.documentAccess({ workspaceId, channelId: 'C111' }), { workspaceId, channelId: 'C111' });
    const shared = sharingMessenger(async () => ({ ...internal, isShared: true, isExtShared: true })).messenger;
    const allowed = new ChannelControl({
      settings: staticSettings(settingsWith({ sharedChannelDocuments: 'workspace' })),
      messenger: shared,
      redis,
      keyPrefix,
      logger: createSilentLogger(),
    });
    assert.deepEqual(await allowed.documentAccess({ workspaceId, channelId: 'C222' }), {
      workspaceId,
      channelId: 'C222',
    });
  });

  test('fail-closed: a failed lookup is channel-only, logged, and remembered for a minute only', async () => {
    const workspaceId = `T${randomUUID().slice(0, 8).toUpperCase().replaceAll('-', '')}`;
    const { calls, messenger } = sharingMessenger(async () => {
      throw new Error('missing_scope');
    });
    const { lines, logger } = recordingLogger();
    const control = new ChannelControl({
      settings: staticSettings(settingsWith({})),
      messenger,
      redis,
      keyPrefix,
      logger,
    });
    const scope = await control.documentAccess({ workspaceId, channelId: 'C777' });
    assert.equal(scope.channelOnly, true);
    assert.ok(lines.some((line) => line.code === 'upstream_unavailable' && line.channelId === 'C777'));
    const ttl = await redis.ttl(`${keyPrefix}${channelSharingKeyPrefix(workspaceId)}C777`);
    assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
    await control.documentAccess({ workspaceId, channelId: 'C777' });
    assert.equal(calls.length, 1, 'Slack is not asked by every request while it fails');
    // A Messenger that cannot read conversations, and an id that is not a channel id, are channel-only too.
    const blind = new ChannelControl({
      settings: staticSettings(settingsWith({})),
      messenger: {},
      redis,
      keyPrefix,
      logger: createSilentLogger(),
    });
    assert.equal((await blind.documentAccess({ workspaceId, channelId: 'C888' })).channelOnly, true);
    assert.equal((await blind.documentAccess({ workspaceId, channelId: 'C888*:x' })).channelOnly, true);
  });
});
