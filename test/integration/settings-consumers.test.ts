/**
 * Each consumer of the workspace settings applies workspace A's setting to A and not to B (real Redis): caps and
 * the admins refusals name, a person's daily cap, `/budget set`, approvers and the approver group, the chat model,
 * and ticket categories and destinations.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { approverCheck } from '../../src/capabilities/agent/approver-check.ts';
import { handleBudgetCommand } from '../../src/capabilities/budget/handle-budget-command.ts';
import type { WorkspaceSettingsService } from '../../src/capabilities/settings/workspace-settings-service.ts';
import { buildBudgetStore } from '../../src/composition/build-budget-store.ts';
import { buildWorkspaceSettings } from '../../src/composition/build-settings.ts';
import { buildTickets } from '../../src/composition/build-tickets.ts';
import { type Configuration, loadConfiguration } from '../../src/composition/config.ts';
import { DeskhandError } from '../../src/errors.ts';
import { createNoModelGateway } from '../../src/llm/no-model-gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { RequestReply } from '../../src/router/request-reply.ts';
import { ticketActionIds } from '../../src/slack-kit/ticket-ids.ts';
import { RecordingMessenger } from '../unit/tickets-fakes.ts';
import { createHarness, scope, userMessage } from './gateway-harness.ts';

const A = 'TAAAA1';
const B = 'TBBBB1';
const prefix = `test:${randomUUID()}:`;
const logger = createSilentLogger();
let redis: Redis;
let configuration: Configuration;
let settings: WorkspaceSettingsService;

before(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-1',
    SLACK_SIGNING_SECRET: 'secret-secret',
    REDIS_KEY_PREFIX: prefix,
    ADMIN_USER_IDS: 'U0ENVADMIN',
    APPROVER_USER_IDS: 'U0ENVAPPROVER',
  });
  assert.ok(loaded.ok);
  configuration = loaded.configuration;
  settings = buildWorkspaceSettings(configuration, { redis, logger });
  const saved = await settings.save({
    workspaceId: A,
    userId: 'U0ENVADMIN',
    expectedVersion: 0,
    overrides: {
      admins: ['U0ADMINA'],
      approvers: ['U0APPROVERA'],
      approverGroup: 'S0GROUPA',
      caps: { channelDailyUsd: 0.00001, userDailyUsd: 0.00002 },
      model: 'gpt-4o',
      tickets: { categories: ['refund-desk'], triageChannelId: 'C0TRIAGEA' },
    },
  });
  assert.equal(saved.kind, 'saved');
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('settings consumers, workspace A vs B', () => {
  test("budget caps and the admins a refusal names are A's in A; B keeps the environment's", async () => {
    const budgets = buildBudgetStore(configuration, redis, settings);
    const reserve = (workspaceId: string, channelId: string, amountMicroUsd: number, userId?: string) =>
      budgets.reserve({
        requestId: randomUUID(),
        workspaceId,
        channelId,
        amountMicroUsd,
        ...(userId ? { userId } : {}),
      });
    await assert.rejects(reserve(A, 'C1', 11), (error: unknown) => {
      assert.ok(error instanceof DeskhandError && error.code === 'over_budget');
      assert.equal(error.details.window, 'channel_daily');
      assert.match(error.userMessage, /<@U0ADMINA> can raise it/);
      assert.doesNotMatch(error.userMessage, /U0ENVADMIN/);
      return true;
    });
    await reserve(B, 'C1', 11);
    // A channel's own cap (/budget set) still wins over the workspace's default.
    await budgets.setChannelCap(A, 'C2', 'daily', 1_000);
    await reserve(A, 'C2', 11);
    // A's per-person cap (20 µ$) applies in A only; B has none.
    await reserve(A, 'C2', 15, 'U0PERSON');
    await assert.rejects(reserve(A, 'C2', 15, 'U0PERSON'), (error: unknown) => {
      assert.ok(error instanceof DeskhandError && error.details.window === 'user_daily');
      return true;
    });
    await reserve(B, 'C2', 15, 'U0PERSON');
    await reserve(B, 'C2', 15, 'U0PERSON');
    const status = await budgets.status(A, 'C1', 'U0PERSON');
    assert.equal(status.windows[0]?.capMicroUsd, 10);
    assert.equal(status.windows.find((window) => window.window === 'user_daily')?.capMicroUsd, 20);
  });

  test("/budget set is allowed to A's admin in A only", async () => {
    const budgets = buildBudgetStore(configuration, redis, settings);
    const adminsOf = async (workspaceId: string) => (await settings.get(workspaceId)).admins;
    const run = (workspaceId: string, userId: string) =>
      handleBudgetCommand(
        { text: 'set 3', userId, workspaceId, channelId: 'C3' },
        { budgets, adminUserIds: configuration.people.adminUserIds, adminsOf },
      );
    assert.match((await run(A, 'U0ADMINA')).text, /is now \$3\.00/);
    assert.match((await run(B, 'U0ADMINA')).text, /Only admins can change budgets\. Ask <@U0ENVADMIN>/);
    assert.match((await run(A, 'U0ENVADMIN')).text, /Only admins can change budgets\. Ask <@U0ADMINA>/);
  });

  test("approvers and the approver group are A's in A; B keeps the environment's", async () => {
    const groupCalls: string[] = [];
    const policy = {
      approverUserIds: configuration.people.approverUserIds,
      allowSelfApproval: false,
      approversOf: async (workspaceId: string) => {
        const current = await settings.get(workspaceId);
        return { userIds: current.approvers, groupId: current.approverGroup };
      },
      isInGroup: async (userId: string, workspaceId: string, groupId: string) => {
        groupCalls.push(`${workspaceId}/${groupId}`);
        return userId === 'U0GROUPMEMBER';
      },
    };
    assert.equal(await approverCheck(policy, 'U0APPROVERA', A), 'approver');
    assert.equal(await approverCheck(policy, 'U0APPROVERA', B), 'not_approver');
    assert.equal(await approverCheck(policy, 'U0ENVAPPROVER', A), 'not_approver');
    assert.equal(await approverCheck(policy, 'U0ENVAPPROVER', B), 'approver');
    assert.equal(await approverCheck(policy, 'U0GROUPMEMBER', A), 'approver');
    assert.equal(await approverCheck(policy, 'U0GROUPMEMBER', B), 'not_approver', 'B has no group');
    assert.deepEqual(groupCalls, [`${A}/S0GROUPA`, `${A}/S0GROUPA`]);
    const failing = { ...policy, approversOf: async () => Promise.reject(new Error('redis down')) };
    assert.equal(await approverCheck(failing, 'U0ENVAPPROVER', B), 'unverified', 'a settings failure denies');
  });

  test("the chat model of a call naming none is A's in A and the configured one in B", async () => {
    const harness = await createHarness({
      gateway: { chatModelOf: async (workspaceId) => (await settings.get(workspaceId)).model },
    });
    try {
      harness.fake?.enqueueChat({ content: 'a' });
      harness.fake?.enqueueChat({ content: 'b' });
      const inA = await harness.gateway.chat(
        { messages: userMessage('hi'), maxOutputTokens: 5, purpose: 'test', promptVersion: '1' },
        scope('C1', A),
      );
      const inB = await harness.gateway.chat(
        { messages: userMessage('hi'), maxOutputTokens: 5, purpose: 'test', promptVersion: '1' },
        scope('C1', B),
      );
      const models = harness.fake?.calls.map((call) => (call.body as { model: string }).model);
      assert.deepEqual(models, ['gpt-4o', 'gpt-4o-mini']);
      assert.equal(inA.model, 'gpt-4o');
      assert.equal(inB.model, 'gpt-4o-mini');
    } finally {
      await harness.cleanup();
    }
  });

  test("tickets use A's categories and triage channel in A; B has no destination", async () => {
    const messenger = new RecordingMessenger();
    const tickets = buildTickets(configuration, {
      gateway: createNoModelGateway({ logger, registry: createMetricsRegistry() }),
      modelConfigured: false,
      redis,
      messenger,
      logger,
      registry: createMetricsRegistry(),
      settings,
    });
    const file = async (workspaceId: string, channelId: string) => {
      const request = {
        route: 'ticket' as const,
        origin: 'command' as const,
        workspaceId,
        channelId,
        userId: 'U0AGENT',
        text: 'Customer wants a refund for order 4411',
        messageTs: `${Math.floor(Date.now() / 1000)}.000${channelId.length}`,
        requestId: randomUUID(),
        threadContext: [],
      };
      await tickets.ticket(request, new RequestReply(request, messenger));
      const index = messenger.posts.findLastIndex((post) => post.channel === channelId);
      const card = messenger.posts[index];
      assert.ok(card, `a card in ${channelId}`);
      // RecordingMessenger numbers its posts' ts in order.
      const cardTs = `1764000000.${String(index + 1).padStart(6, '0')}`;
      const draftId = JSON.stringify(card.blocks).match(/"value":"(DH-[^"]+)"/)?.[1];
      assert.ok(draftId);
      await tickets.actions[ticketActionIds.file]?.({
        actionId: ticketActionIds.file,
        value: draftId,
        workspaceId,
        userId: 'U0AGENT',
        channelId,
        messageTs: cardTs,
        requestId: randomUUID(),
        triggerId: undefined,
      });
      return card;
    };
    const cardA = await file(A, 'C0SUPPORTA');
    assert.match(JSON.stringify(cardA.blocks), /[Rr]efund[- ]desk/, "A's only category");
    assert.ok(
      messenger.posts.some((post) => post.channel === 'C0TRIAGEA'),
      "filed to A's triage channel",
    );
    const cardB = await file(B, 'C0SUPPORTB');
    assert.doesNotMatch(JSON.stringify(cardB.blocks), /[Rr]efund[- ]desk/);
    assert.equal(
      messenger.posts.filter((post) => post.channel === 'C0TRIAGEA').length,
      1,
      'B never files to A’s channel',
    );
    assert.match(JSON.stringify(messenger.ephemerals.at(-1)), /No ticket destination|no destination|not configured/i);
  });
});
