/**
 * The agent end to end over signed Slack payloads: the real app (receiver, Bolt, de-duplication, router,
 * listeners) with the agent wired as in main.ts — task route and button handlers from agent-handlers.ts, the
 * real gateway against the fake OpenAI server, the real SlackMessenger against the fake Slack Web API, Redis and
 * a BullMQ worker.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import {
  createApprovalActionHandler,
  createStopActionHandler,
  createTaskHandler,
} from '../../src/capabilities/agent/agent-handlers.ts';
import type { FileTicketArguments } from '../../src/capabilities/agent/tools/file-ticket.ts';
import { createAgent } from '../../src/composition/create-agent.ts';
import { createGateway, type GatewayParts } from '../../src/composition/create-gateway.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const requester = 'W222';
const approver = 'U0APPROVER1';
const bystander = 'W999';
const channel = 'C111';

let harness: AppHarness;
let agent: ReturnType<typeof createAgent>;
let gatewayParts: GatewayParts;
let agentDataDir: string;
const filed: FileTicketArguments[] = [];

function service() {
  return agent.service;
}

before(async () => {
  harness = await startAppHarness({
    environment: { APPROVER_USER_IDS: approver },
    capabilities: { task: (request, reply) => createTaskHandler(service())(request, reply) },
    interactions: {
      actions: {
        [agentActionIds.approve]: (click) => createApprovalActionHandler(service())(click),
        [agentActionIds.reject]: (click) => createApprovalActionHandler(service())(click),
        [agentActionIds.stop]: (click) => createStopActionHandler(service())(click),
      },
    },
  });
  const logger = createSilentLogger();
  agentDataDir = await mkdtemp(join(tmpdir(), 'deskhand-agent-e2e-'));
  const configuration = { ...harness.configuration, dataDir: agentDataDir };
  gatewayParts = createGateway(configuration, {
    openai: new OpenAI({ apiKey: 'test-key', baseURL: harness.openai.baseURL }),
    redis: harness.redis,
    metrics: createMetricsRegistry(),
    logger,
  });
  const messenger = new SlackMessenger({
    client: createSlackWebClient({ token: harness.slack.token, apiUrl: harness.slack.url, timeoutMs: 5000 }),
    logger,
  });
  agent = createAgent({
    configuration,
    redis: harness.redis,
    queueConnection: { url: configuration.redis.url, maxRetriesPerRequest: null },
    gateway: gatewayParts.gateway,
    messenger,
    logger,
    tools: {
      search: async () => [{ title: 'Delivery policy', source: 'policy.md', text: 'Missing deliveries get a ticket.' }],
      extractTicket: async ({ text }) => ({ ticket: { summary: text } }),
      fileTicket: async ({ ticket }) => {
        filed.push(ticket);
        return { reference: `TCK-${filed.length}` };
      },
      ticketDestinationName: 'the support queue',
      encoding: 'o200k_base',
    },
    estimateChatCostMicroUsd: (request) =>
      gatewayParts.prices.cost(configuration.openai.model, {
        inputTokens: request.inputTokens ?? gatewayParts.gateway.countChatTokens(request),
        outputTokens: request.maxOutputTokens,
      }),
  });
  agent.queue.startWorker();
});

after(async () => {
  await agent.queue.close();
  await gatewayParts.close();
  await harness.close();
  await rm(agentDataDir, { recursive: true, force: true });
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

function buttonValueIn(blocks: unknown, actionId: string): string | undefined {
  for (const block of (blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[]) ?? []) {
    for (const element of block.elements ?? []) if (element.action_id === actionId) return element.value;
  }
  return undefined;
}

const ephemeralsFor = (user: string) => harness.slack.ephemeralMessages.filter((message) => message.user === user);

async function click(user: string, actionId: string, value: string, messageTs: string) {
  const response = await harness.driver.send(slackPayloads.blockActions({ actionId, value, user, channel, messageTs }));
  assert.equal(response.status, 200);
}

test('/agent → plan → steps → card → non-approver refused → approver runs the tool once → summary', async () => {
  const ticket = { summary: 'Order 4411 never arrived', category: 'missing_delivery', urgency: 'high' };
  harness.openai.enqueueChat({
    toolCalls: [{ name: 'update_plan', arguments: JSON.stringify({ steps: ['Check policy', 'File'] }) }],
  });
  harness.openai.enqueueChat({ toolCalls: [{ name: 'search_documents', arguments: '{"query":"missing delivery"}' }] });
  harness.openai.enqueueChat({ toolCalls: [{ name: 'file_ticket', arguments: JSON.stringify(ticket) }] });
  harness.openai.enqueueChat({ content: 'Filed the ticket.' });

  const command = await harness.driver.send(
    slackPayloads.slashCommand({ command: '/agent', text: 'File a ticket for order 4411', user: requester, channel }),
  );
  assert.equal(command.status, 200);
  assert.ok(command.latencyMs < 3000, `acked in ${command.latencyMs} ms`);

  const card = await until('the approval card', () =>
    harness.slack.messages(channel).find((message) => buttonValueIn(message.blocks, agentActionIds.approve)),
  );
  const value = buttonValueIn(card.blocks, agentActionIds.approve) ?? '';
  assert.match(JSON.stringify(card.blocks), /File a high-urgency \\"missing_delivery\\" ticket in the support queue/);
  assert.equal(filed.length, 0);

  await click(bystander, agentActionIds.approve, value, card.ts);
  const refusal = await until('the refusal', () => ephemeralsFor(bystander)[0]);
  assert.match(refusal.text, /not authorised/);

  await click(approver, agentActionIds.approve, value, card.ts);
  await until('the approval reply', () => ephemeralsFor(approver)[0]);
  assert.match(ephemeralsFor(approver)[0]?.text ?? '', /Approved/);
  const progress = await until('the final summary', () =>
    harness.slack.messages(channel).find((message) => JSON.stringify(message.blocks ?? []).includes('Done.*')),
  );
  assert.match(JSON.stringify(progress.blocks), /4 steps, 2 tool calls \(2 completed\)/);
  assert.equal(filed.length, 1);

  // A second click (double click or replay) is told who decided; nothing runs again.
  await click(approver, agentActionIds.approve, value, card.ts);
  await until('the second reply', () => ephemeralsFor(approver)[1]);
  assert.match(ephemeralsFor(approver)[1]?.text ?? '', new RegExp(`Already approved by <@${approver}>`));
  await sleep(200);
  assert.equal(filed.length, 1);
  const resolved = harness.slack.message(channel, card.ts);
  assert.equal(buttonValueIn(resolved?.blocks, agentActionIds.approve), undefined, 'the card lost its buttons');
  harness.slack.expectNoViolations();
});
