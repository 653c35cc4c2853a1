/**
 * The settings modal end to end over signed Slack payloads: the real app with the agent wired as in
 * build-work-side.ts (approvals decided by the workspace's settings), the settings service over the real Redis and
 * the fake Slack Web API (views validated against Block Kit limits). An admin opens the modal and saves a new
 * approver; the new approver can approve an agent action and the one the save replaced no longer can; a non-admin
 * is refused on open and on submit.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { createApprovalActionHandler, createTaskHandler } from '../../src/capabilities/agent/agent-handlers.ts';
import type { WorkspaceSettingsService } from '../../src/capabilities/settings/workspace-settings-service.ts';
import { buildSettingsHandlers, buildWorkspaceSettings } from '../../src/composition/build-settings.ts';
import { createAgent } from '../../src/composition/create-agent.ts';
import { createGateway, type GatewayParts } from '../../src/composition/create-gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import { settingsActionIds, settingsBlockIds, settingsModalCallbackId } from '../../src/slack-kit/settings-ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const admin = 'U0ADMIN1';
const oldApprover = 'U0OLDAPP1';
const newApprover = 'U0NEWAPP1';
const requester = 'W222';
const channel = 'C111';

let harness: AppHarness;
let agent: ReturnType<typeof createAgent>;
let gatewayParts: GatewayParts;
let settings: WorkspaceSettingsService;
let dataDir: string;
const changed: string[] = [];
const ticketRoutes: string[] = [];

before(async () => {
  const logger = createSilentLogger();
  let handlers: ReturnType<typeof buildSettingsHandlers> | undefined;
  harness = await startAppHarness({
    environment: { ADMIN_USER_IDS: admin, APPROVER_USER_IDS: oldApprover },
    capabilities: {
      task: (request, reply) => createTaskHandler(agent.service)(request, reply),
      // Records what a plain mention was routed to; the ticket capability itself is tested elsewhere.
      ticket: async (request) => {
        ticketRoutes.push(`${request.channelId}:${request.text}`);
        return { kind: 'reply', text: `Ticket draft: ${request.text}`, visibility: 'thread' };
      },
    },
    // Channel control reads the saved settings (mention defaults), as build-work-side.ts wires it.
    channelSettings: { get: (workspaceId) => settings.get(workspaceId) },
    interactions: {
      actions: {
        [agentActionIds.approve]: (click) => createApprovalActionHandler(agent.service)(click),
        [settingsActionIds.open]: (click) =>
          handlers?.actions[settingsActionIds.open]?.(click) ?? Promise.resolve(undefined),
      },
      views: {
        [settingsModalCallbackId]: async (submission) => handlers?.views[settingsModalCallbackId]?.(submission),
      },
    },
  });
  dataDir = await mkdtemp(join(tmpdir(), 'deskhand-settings-e2e-'));
  const configuration = { ...harness.configuration, dataDir };
  settings = buildWorkspaceSettings(configuration, { redis: harness.redis, logger });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: harness.slack.token, apiUrl: harness.slack.url, timeoutMs: 5000 }),
    logger,
  });
  handlers = buildSettingsHandlers(configuration, settings, {
    messenger,
    logger,
    onSettingsChanged: async (workspaceId, userId) => {
      changed.push(`${workspaceId}/${userId}`);
    },
  });
  gatewayParts = createGateway(configuration, {
    openai: new OpenAI({ apiKey: 'test-key', baseURL: harness.openai.baseURL }),
    redis: harness.redis,
    metrics: createMetricsRegistry(),
    logger,
    settings,
  });
  agent = createAgent({
    configuration,
    redis: harness.redis,
    queueConnection: { url: configuration.redis.url, maxRetriesPerRequest: null },
    gateway: gatewayParts.gateway,
    messenger,
    logger,
    settings,
    tools: {
      search: async () => [],
      extractTicket: async ({ text }) => ({ ticket: { summary: text } }),
      fileTicket: async () => ({ reference: 'TCK-1' }),
      ticketDestinationName: 'the support queue',
      encoding: 'o200k_base',
    },
  });
  agent.queue.startWorker();
});

after(async () => {
  await agent.queue.close();
  await gatewayParts.close();
  await harness.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const openedViews = () =>
  harness.slack.callsTo('views.open').map((call) => call.params.view as Record<string, unknown>);
const ephemeralsFor = (user: string) => harness.slack.ephemeralMessages.filter((message) => message.user === user);

async function openSettings(user: string): Promise<Record<string, unknown>> {
  const before = openedViews().length;
  const response = await harness.driver.send(
    slackPayloads.blockActions({ actionId: settingsActionIds.open, value: 'open', user, channel }),
  );
  assert.equal(response.status, 200);
  return until('views.open', () => openedViews()[before]);
}

/** The modal's `view.state.values` as Slack would send them for its initial values, with `changes` applied. */
function stateOf(view: Record<string, unknown>, changes: Record<string, Record<string, unknown>>) {
  const values: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const block of view.blocks as { type: string; block_id?: string; element?: Record<string, unknown> }[]) {
    if (block.type !== 'input' || !block.block_id || !block.element) continue;
    const element = block.element;
    const state: Record<string, unknown> = { type: element.type };
    if (element.type === 'plain_text_input') state.value = element.initial_value ?? null;
    if (element.type === 'multi_users_select') state.selected_users = element.initial_users ?? [];
    if (element.type === 'conversations_select') state.selected_conversation = element.initial_conversation ?? null;
    if (element.type === 'multi_conversations_select')
      state.selected_conversations = element.initial_conversations ?? [];
    if (element.type === 'static_select') state.selected_option = element.initial_option ?? null;
    values[block.block_id] = { [String(element.action_id)]: { ...state, ...changes[block.block_id] } };
  }
  return values;
}

async function submit(user: string, view: Record<string, unknown>, changes: Record<string, Record<string, unknown>>) {
  const response = await harness.driver.send(
    slackPayloads.viewSubmission({
      callbackId: settingsModalCallbackId,
      user,
      privateMetadata: String(view.private_metadata),
      values: stateOf(view, changes) as never,
    }),
  );
  assert.equal(response.status, 200);
  return response.body === '' ? undefined : (response.json as Record<string, unknown>);
}

function buttonValueIn(blocks: unknown, actionId: string): string | undefined {
  for (const block of (blocks as { elements?: { action_id?: string; value?: string }[] }[]) ?? []) {
    for (const element of block.elements ?? []) if (element.action_id === actionId) return element.value;
  }
  return undefined;
}

test('a non-admin is refused on open and on submit, and the settings stay as they were', async () => {
  const refusal = await openSettings('W999');
  assert.match(
    JSON.stringify(refusal),
    /Only this workspace’s Deskhand admins can change its settings\. Ask <@U0ADMIN1>/,
  );
  assert.equal(refusal.callback_id, undefined, 'the refusal is not the settings form');

  const form = await openSettings(admin);
  const answer = await submit('W999', form, { [settingsBlockIds.approvers]: { selected_users: ['W999'] } });
  assert.equal(answer?.response_action, 'update');
  assert.match(JSON.stringify(answer?.view), /Only this workspace’s Deskhand admins/);
  assert.deepEqual((await settings.get('T111')).approvers, [oldApprover]);
  harness.slack.expectNoViolations();
});

test('invalid fields come back as specific errors inside the modal and nothing is saved', async () => {
  const form = await openSettings(admin);
  const answer = await submit(admin, form, {
    [settingsBlockIds.channelDailyUsd]: { value: 'ten' },
    [settingsBlockIds.webhookUrl]: { value: 'https://hooks.example.com/deskhand' },
    [settingsBlockIds.admins]: { selected_users: [] },
  });
  assert.equal(answer?.response_action, 'errors');
  const errors = answer?.errors as Record<string, string>;
  assert.match(errors[settingsBlockIds.channelDailyUsd] ?? '', /“ten” is not a dollar amount/);
  assert.match(errors[settingsBlockIds.webhookUrl] ?? '', /set TICKET_WEBHOOK_SECRET/);
  assert.match(errors[settingsBlockIds.admins] ?? '', /Keep at least one admin/);
  assert.equal((await settings.current('T111')).version, 0);
});

test('an admin saves a new approver: they can approve, the approver they replaced cannot', async () => {
  const form = await openSettings(admin);
  assert.equal(form.callback_id, settingsModalCallbackId);
  const answer = await submit(admin, form, { [settingsBlockIds.approvers]: { selected_users: [newApprover] } });
  assert.equal(answer, undefined, 'a valid save closes the modal');
  assert.deepEqual((await settings.get('T111')).approvers, [newApprover]);
  assert.deepEqual(
    (await settings.current('T111')).overrides,
    { approvers: [newApprover] },
    'only the change is stored',
  );
  await until('the settings-changed hook', () => (changed.includes(`T111/${admin}`) ? true : undefined));
  const audit = await settings.auditLog('T111');
  assert.equal(audit[0]?.userId, admin);
  assert.deepEqual(audit[0]?.changes, [{ field: 'approvers', new: [newApprover] }]);

  const ticket = { summary: 'Order 4411 never arrived', category: 'missing_delivery', urgency: 'high' };
  harness.openai.enqueueChat({ toolCalls: [{ name: 'file_ticket', arguments: JSON.stringify(ticket) }] });
  harness.openai.enqueueChat({ content: 'Filed the ticket.' });
  await harness.driver.send(
    slackPayloads.slashCommand({ command: '/agent', text: 'File a ticket for order 4411', user: requester, channel }),
  );
  const card = await until('the approval card', () =>
    harness.slack.messages(channel).find((message) => buttonValueIn(message.blocks, agentActionIds.approve)),
  );
  const value = buttonValueIn(card.blocks, agentActionIds.approve) ?? '';
  const click = (user: string) =>
    harness.driver.send(
      slackPayloads.blockActions({ actionId: agentActionIds.approve, value, user, channel, messageTs: card.ts }),
    );

  await click(oldApprover);
  const refused = await until('the old approver’s refusal', () => ephemeralsFor(oldApprover)[0]);
  assert.match(refused.text, /not authorised/);
  await click(newApprover);
  const approved = await until('the new approver’s reply', () => ephemeralsFor(newApprover)[0]);
  assert.match(approved.text, /Approved/);
  harness.slack.expectNoViolations();
});

test('an admin makes plain mentions in a channel mean a ticket: the next mention there is a ticket, with no classification call', async () => {
  const ticketChannel = 'C0TICKETS1';
  const form = await openSettings(admin);
  const both = await submit(admin, form, {
    [settingsBlockIds.mentionTicket]: { selected_conversations: [ticketChannel] },
    [settingsBlockIds.mentionQuestion]: { selected_conversations: [ticketChannel] },
  });
  assert.equal(both?.response_action, 'errors');
  assert.match(
    ((both?.errors ?? {}) as Record<string, string>)[settingsBlockIds.mentionTicket] ?? '',
    /C0TICKETS1 is also in “Plain mentions mean a question in…”/,
  );
  const saved = await submit(admin, form, {
    [settingsBlockIds.mentionTicket]: { selected_conversations: [ticketChannel] },
  });
  assert.equal(saved, undefined, 'a valid save closes the modal');
  assert.deepEqual((await settings.get('T111')).channels.mentionDefaults, { [ticketChannel]: 'ticket' });

  harness.openai.reset();
  const text = 'what happened to my refund for order 4411?';
  await harness.driver.send(slackPayloads.appMention({ channel: ticketChannel, text: `<@U0BOT> ${text}` }));
  await until('the ticket route', () => (ticketRoutes.length > 0 ? true : undefined));
  assert.deepEqual(ticketRoutes, [`${ticketChannel}:${text}`], 'a question-like mention went to tickets');
  await until('the reply', () => harness.slack.messages(ticketChannel)[0]);
  assert.match(harness.slack.messages(ticketChannel)[0]?.text ?? '', /Ticket draft/);
  assert.equal(harness.openai.calls.length, 0, 'no classification (or any model) call');
  harness.slack.expectNoViolations();
});
