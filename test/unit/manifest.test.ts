import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Redis } from 'ioredis';
import { createApp } from '../../src/composition/app.ts';
import { loadConfiguration } from '../../src/composition/config.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { Messenger } from '../../src/ports/messenger.ts';
import { RedisThreadMemory } from '../../src/router/thread-memory.ts';
import { assistantSuggestedPrompts } from '../../src/slack-kit/assistant-text.ts';
import { actions, commands, messageShortcuts, views } from '../../src/slack-kit/ids.ts';
import { createInProcessWork } from '../../src/work/work.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';
import { fixturesDirectory } from '../support/fixtures.ts';

const schemaDirectory = `${fixturesDirectory}/slack/manifest-schema`;
const manifest = JSON.parse(
  readFileSync(new URL('../../manifests/deskhand.manifest.json', import.meta.url), 'utf8'),
) as {
  features: {
    slash_commands: { command: string; url?: string }[];
    shortcuts: { callback_id: string; type: string; name: string }[];
    assistant_view?: { assistant_description: string; suggested_prompts?: { title: string; message: string }[] };
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    event_subscriptions: { bot_events: string[]; request_url: string };
    interactivity: { is_enabled: boolean; request_url: string };
  };
};

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function validator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  // The top-level schema $refs versioned copies on raw.githubusercontent.com; map them to the local files.
  for (const version of ['1.0.0', '2.0.0']) {
    const schema = JSON.parse(readFileSync(`${schemaDirectory}/schemas/manifest.schema.${version}.json`, 'utf8'));
    ajv.addSchema(
      schema,
      `https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/manifest.schema.${version}.json`,
    );
  }
  return ajv.compile(JSON.parse(readFileSync(`${schemaDirectory}/manifest.schema.json`, 'utf8')));
}

const keyPrefix = `test:${randomUUID()}:`;
// The app journals the work its listeners hand off (src/work/work-journal.ts): in a directory of this test's own.
const dataDir = mkdtempSync(join(tmpdir(), 'deskhand-manifest-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** The real app, wired exactly as in production but with recording stand-ins for Slack and the model. */
async function createInspectableApp(redis: Redis) {
  const configuration = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
    SLACK_SIGNING_SECRET: 'secret-123456',
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
  });
  assert.ok(configuration.ok);
  const messenger = {
    post: async () => ({ channel: 'C1', ts: '1.1', allTs: ['1.1'] }),
    postEphemeral: async () => {},
    drain: async () => {},
  } as unknown as Messenger;
  const work = createInProcessWork({
    messenger,
    gateway: new ScriptedModel(), // unscripted: any model call throws
    threads: new RedisThreadMemory({ redis, keyPrefix }),
    logger: createSilentLogger(),
    registry: createMetricsRegistry(),
    classifierModel: 'gpt-4o-mini',
    threadContextTokens: 1000,
    encoding: 'o200k_base',
  });
  const app = createApp({
    configuration: configuration.configuration,
    logger: createSilentLogger(),
    redis,
    work,
    resolveIdentity: async () => ({ botUserId: 'UBOT', botId: 'BBOT' }),
  });
  await app.bolt.init();
  return app;
}

/** Whether a registered listener acknowledged the payload (Bolt leaves unmatched payloads un-acked). */
async function acknowledged(app: Awaited<ReturnType<typeof createInspectableApp>>, body: Record<string, unknown>) {
  let acked = false;
  await app.bolt.processEvent({
    body,
    ack: async () => {
      acked = true;
    },
  });
  return acked;
}

const team = { id: 'T1' };
const user = { id: 'U1' };
const channel = { id: 'C1' };
const bodies = {
  command: (command: string) => ({
    command,
    text: 'help',
    team_id: 'T1',
    user_id: 'U1',
    channel_id: 'C1',
    trigger_id: `1.2.${randomUUID()}`,
  }),
  shortcut: (callbackId: string) => ({
    type: 'message_action',
    callback_id: callbackId,
    trigger_id: `1.2.${randomUUID()}`,
    team,
    user,
    channel,
    message_ts: '1.1',
    message: { type: 'message', ts: '1.1', text: 'hello' },
  }),
  action: (actionId: string) => ({
    type: 'block_actions',
    team,
    user,
    channel,
    trigger_id: `1.2.${randomUUID()}`,
    container: { type: 'message', message_ts: '1.1', channel_id: 'C1' },
    actions: [{ type: 'button', action_id: actionId, block_id: 'b', value: 'v', action_ts: '1.1' }],
  }),
  view: (callbackId: string) => ({
    type: 'view_submission',
    team,
    user,
    view: { id: 'V1', callback_id: callbackId, private_metadata: '', state: { values: {} } },
  }),
};

/** The ids the listener modules register, observed through a recorder standing in for Bolt's App. */
async function idsRegisteredByListenerModules() {
  const recorded = {
    commands: [] as string[],
    shortcuts: [] as string[],
    actions: [] as string[],
    views: [] as string[],
  };
  const recorder = {
    event: () => {},
    message: () => {},
    command: (name: string) => recorded.commands.push(name),
    shortcut: (constraints: { callback_id: string }) => recorded.shortcuts.push(constraints.callback_id),
    action: (id: string) => recorded.actions.push(id),
    view: (id: string) => recorded.views.push(id),
  };
  for (const module of [
    await import('../../src/slack/listeners/commands.ts'),
    await import('../../src/slack/listeners/shortcuts.ts'),
    await import('../../src/slack/listeners/actions.ts'),
    await import('../../src/slack/listeners/views.ts'),
    await import('../../src/slack/listeners/events.ts'),
  ]) {
    module.register(recorder as never, {} as never);
  }
  return recorded;
}

describe('Slack app manifest', () => {
  test('validates against the official manifest schema', () => {
    const validate = validator();
    const valid = validate(manifest);
    assert.equal(valid, true, JSON.stringify(validate.errors, null, 2));
  });

  test('the schema check is real: the schema project’s own invalid sample fails it', () => {
    const validate = validator();
    const invalid = JSON.parse(readFileSync(`${schemaDirectory}/tests/manifests/v1/manifest.invalid.json`, 'utf8'));
    assert.equal(validate(invalid), false);
  });

  test('subscribes to the events the listeners need with least-privilege scopes', () => {
    assert.deepEqual(
      new Set(manifest.settings.event_subscriptions.bot_events),
      new Set([
        'app_mention',
        'message.channels',
        'message.groups',
        'message.im',
        'reaction_added',
        'file_shared',
        // OAuth distribution: an uninstalled workspace's data is deleted (src/slack/listeners/uninstall.ts).
        'app_uninstalled',
        'tokens_revoked',
        // The App Home tab is published when opened (src/slack/listeners/home.ts).
        'app_home_opened',
        // Slack's assistant view (src/slack/listeners/assistant.ts); its messages arrive as message.im.
        'assistant_thread_started',
        'assistant_thread_context_changed',
        // Slack Connect: a channel shared or unshared drops its cached sharing (src/slack/listeners/channel-sharing.ts).
        'channel_shared',
        'channel_unshared',
      ]),
    );
    assert.deepEqual(
      new Set(manifest.oauth_config.scopes.bot),
      new Set([
        'app_mentions:read',
        'channels:history',
        'groups:history',
        'im:history',
        'chat:write',
        'commands',
        'reactions:read',
        'files:read',
        'usergroups:read',
        // assistant.threads.setSuggestedPrompts / setTitle in the assistant view.
        'assistant:write',
        // conversations.members: is the asker in the channel the assistant view shows (fail closed without it).
        'channels:read',
        'groups:read',
        // conversations.info on a direct message: Slack Connect detection (channel-control.ts) fails closed without it.
        'im:read',
      ]),
    );
    assert.equal(manifest.settings.interactivity.is_enabled, true);
    for (const url of [
      manifest.settings.event_subscriptions.request_url,
      manifest.settings.interactivity.request_url,
      ...manifest.features.slash_commands.map((command) => command.url),
    ]) {
      assert.equal(url, 'https://YOUR-HOST/slack/events');
    }
  });

  test('every command, shortcut, action and view id is handled by a listener of the running app', async () => {
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    try {
      const app = await createInspectableApp(redis);
      for (const { command } of manifest.features.slash_commands) {
        assert.ok(await acknowledged(app, bodies.command(command)), `no listener for ${command}`);
      }
      for (const { callback_id: callbackId } of manifest.features.shortcuts) {
        assert.ok(await acknowledged(app, bodies.shortcut(callbackId)), `no listener for shortcut ${callbackId}`);
      }
      for (const actionId of Object.values(actions)) {
        assert.ok(await acknowledged(app, bodies.action(actionId)), `no listener for action ${actionId}`);
      }
      for (const callbackId of Object.values(views)) {
        assert.ok(await acknowledged(app, bodies.view(callbackId)), `no listener for view ${callbackId}`);
      }
      // The check can fail: ids nobody registered stay un-acked.
      assert.equal(await acknowledged(app, bodies.command('/not-declared')), false);
      assert.equal(await acknowledged(app, bodies.action('not_declared')), false);
      assert.equal(await acknowledged(app, bodies.shortcut('not_declared')), false);
      assert.equal(await app.jobs.drain(5_000), true);
    } finally {
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });

  test('every id a listener registers is declared in the manifest or in src/slack-kit/ids.ts', async () => {
    const recorded = await idsRegisteredByListenerModules();
    const manifestCommands = manifest.features.slash_commands.map((command) => command.command).sort();
    assert.deepEqual([...recorded.commands].sort(), manifestCommands);
    assert.deepEqual(Object.values(commands).sort(), manifestCommands);

    const manifestShortcuts = manifest.features.shortcuts.map((shortcut) => shortcut.callback_id).sort();
    assert.deepEqual([...recorded.shortcuts].sort(), manifestShortcuts);
    assert.deepEqual(Object.values(messageShortcuts).sort(), manifestShortcuts);
    assert.equal(manifest.features.shortcuts.find((s) => s.callback_id === 'create_ticket')?.name, 'Create ticket');

    assert.deepEqual([...recorded.actions].sort(), Object.values(actions).sort());
    assert.deepEqual([...recorded.views].sort(), Object.values(views).sort());
  });

  test('the assistant view offers the prompts a new assistant thread gets, and its events have listeners', async () => {
    const view = manifest.features.assistant_view;
    assert.ok(view?.assistant_description);
    assert.deepEqual(view.suggested_prompts, [...assistantSuggestedPrompts]);
    const events: string[] = [];
    const recorder = { event: (name: string) => events.push(name), message: () => {} };
    const module = await import('../../src/slack/listeners/events.ts');
    module.register(recorder as never, {} as never);
    for (const name of ['assistant_thread_started', 'assistant_thread_context_changed', 'message']) {
      assert.ok(events.includes(name), `no listener for ${name}`);
    }
  });

  test('every subscribed bot event has a listener', async () => {
    const events: string[] = [];
    const recorder = { event: (name: string) => events.push(name), message: () => {} };
    (await import('../../src/slack/listeners/events.ts')).register(recorder as never, {} as never);
    (await import('../../src/slack/listeners/uninstall.ts')).register(recorder as never, {} as never);
    for (const subscribed of manifest.settings.event_subscriptions.bot_events) {
      const name = subscribed.startsWith('message.') ? 'message' : subscribed;
      assert.ok(events.includes(name), `no listener for ${subscribed}`);
    }
  });
});
