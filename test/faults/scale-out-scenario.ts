/**
 * The scale-out fault scenario (issue 17, item 7), run with local processes only:
 * - Redis: a master, one replica and three sentinels (sentinel-group.ts, ports 7500–7512);
 * - the fake Slack Web API (each replica through its own tap), the fake OpenAI server behind a proxy that streams
 *   answers at a model's pace, the fake Qdrant; three replicas of `node src/main.ts` on the same signing secret,
 *   Redis through the sentinels and the same Qdrant (several replicas may not share the embedded index);
 * - a round-robin in the test (round-robin.ts) that also behaves as Slack does on failures and duplicates.
 *
 * Steps: a document is ingested; an admin sets a small daily cap in the cap channel; round A, 60 concurrent `/ask`
 * there; the burst, 300 mentions at 50/s over 100 channels, each delivered twice to different replicas, during which
 * a replica is SIGKILLed while it streams answers and started again, the Redis master is SIGKILLed and the sentinels
 * fail over (the old master comes back empty and becomes a replica), and the current master is restarted without
 * persistence (SIGKILL and an empty start on its port, faster than the sentinels' down-after, so every key is
 * lost); once the replicas are ready again, round B, 60 more concurrent `/ask` against the same cap. Then it waits
 * until Slack has been quiet for 35 s, longer than the delivery lease (or a deadline), and returns everything the
 * report needs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { askRound, ingestDocument, setCap, waitForAsks } from './ask-rounds.ts';
import { budgetSnapshot, trueSpend } from './budget-figures.ts';
import { burst } from './fault-burst.ts';
import { PacedModelStream } from './paced-model-stream.ts';
import { ReplicaFleet } from './replica-fleet.ts';
import { mentionCensus, strayMessages } from './reply-census.ts';
import { RoundRobin } from './round-robin.ts';
import {
  admin,
  adminToken,
  answerFor,
  capChannel,
  type ScenarioResult,
  sentinelName,
  settings,
  signingSecret,
  today,
  workspaceId,
} from './scenario-settings.ts';
import { SentinelGroup } from './sentinel-group.ts';

export interface Running {
  result: ScenarioResult;
  stop: () => Promise<void>;
}

/** Starts everything, runs the scenario and returns the figures; `stop` tears every process down. */
export async function runScenario(log: (line: string) => void): Promise<Running> {
  const keyPrefix = `faults:${randomUUID().slice(0, 8)}:`;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch((error: unknown) => log(`teardown: ${String(error)}`));
  };
  let services: Services;
  try {
    services = await startServices(keyPrefix, stops);
  } catch (error) {
    await stop();
    throw error;
  }
  const { group, slack, openai, fleet } = services;

  const result: ScenarioResult = {
    timeline: {},
    events: [],
    deliveries: [],
    commands: [],
    mentionReplies: [],
    askReplies: [],
    strays: 0,
    budget: [],
    capChannelSpend: { microUsd: 0, chatCalls: 0, embeddingCalls: 0 },
    capMicroUsd: Math.round(settings.capUsd * 1_000_000),
    fleet,
    slack,
    openai,
    errors: [],
  };
  const running: Running = { result, stop };
  const redis = group.masterClient();
  stops.push(async () => redis.disconnect());
  const snapshot = async (label: string) => {
    const snap = await budgetSnapshot(redis, { label, keyPrefix, workspaceId, channelId: capChannel, ...today() });
    result.budget.push(snap);
    log(`budget ${label}: ${JSON.stringify(snap)}`);
  };

  try {
    await fleet.start(settings.replicas, slack.url);
    log(`${settings.replicas} replicas ready on ${fleet.replicas.map((replica) => replica.port).join(', ')}`);
    fleet.startPolling();
    await ingestDocument(fleet.replicas[0]?.port as number);
    const router = new RoundRobin(fleet.replicas, signingSecret);
    await setCap(router, slack);
    log(`cap set: $${settings.capUsd} daily in ${capChannel}`);

    await askRound(router, result, 'A');
    await waitForAsks(result, 'A', 120_000);
    await snapshot('after round A');

    await burst(router, group, fleet, result, log, snapshot);
    await waitForAsks(result, 'B', 150_000);
    await settle(result, log);
    await snapshot('at the end');
  } catch (error) {
    result.errors.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
    log(`scenario stopped early: ${String(error)}`);
  }
  result.logDirectory = mkdtempSync(join(tmpdir(), 'deskhand-faults-logs-'));
  fleet.saveLogs(result.logDirectory);
  writeFileSync(
    join(result.logDirectory, 'deliveries.json'),
    JSON.stringify([...result.deliveries, ...result.commands]),
  );
  result.mentionReplies = mentionCensus(result.events, slack, fleet.egress);
  result.strays = strayMessages(result.events, slack).length;
  result.capChannelSpend = trueSpend(openai.calls, /fq-a[ab]-/, answerFor);
  await fleet.stopPolling();
  return running;
}

interface Services {
  group: SentinelGroup;
  slack: FakeSlackWebApi;
  openai: FakeOpenAIServer;
  fleet: ReplicaFleet;
}

/** Redis with sentinels, the fakes and the (not yet started) fleet; each registers its teardown in `stops`. */
async function startServices(keyPrefix: string, stops: (() => Promise<void>)[]): Promise<Services> {
  const group = await SentinelGroup.start(sentinelName, settings.ports);
  stops.push(() => group.stop());
  const slack = await FakeSlackWebApi.start();
  stops.push(() => slack.close());
  const openai = await FakeOpenAIServer.start({
    whenEmpty: 'default',
    respond: (body) => (body.stream === true ? { content: answerFor(body), delayMs: 200 } : undefined),
  });
  stops.push(() => openai.close());
  const model = await PacedModelStream.start(openai.baseURL, settings.modelEventIntervalMs);
  stops.push(() => model.close());
  const qdrant = new FakeQdrantServer();
  const qdrantUrl = await qdrant.start();
  stops.push(() => qdrant.close());
  const fleet = new ReplicaFleet(({ port, dataDir, slackUrl }) => ({
    PORT: String(port),
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slackUrl,
    OPENAI_API_KEY: 'test-key',
    OPENAI_BASE_URL: model.baseURL,
    REDIS_SENTINELS: group.sentinelList,
    REDIS_SENTINEL_NAME: sentinelName,
    REDIS_KEY_PREFIX: keyPrefix,
    QDRANT_URL: qdrantUrl,
    DATA_DIR: dataDir,
    ADMIN_API_TOKEN: adminToken,
    ADMIN_USER_IDS: admin,
    TIME_ZONE: 'UTC',
    WORK_THREADS: '1',
    LOG_LEVEL: 'info',
  }));
  stops.push(() => fleet.stop());
  return { group, slack, openai, fleet };
}

/** Waits until every mention has a finished reply and Slack has been quiet for `quietMs`, or the deadline. */
async function settle(result: ScenarioResult, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + settings.settleDeadlineMs;
  for (;;) {
    const census = mentionCensus(result.events, result.slack, result.fleet.egress);
    const answered = census.every((entry) => entry.replies.some((reply) => reply.finishedAt !== undefined));
    const lastCall = result.fleet.egress.at(-1)?.at ?? 0;
    const quiet = Date.now() - lastCall >= settings.quietMs;
    if ((answered && quiet) || Date.now() > deadline) {
      result.timeline.settledAt = Date.now();
      result.timeline.quiet = answered && quiet;
      log(`settled: every mention answered ${answered}, quiet ${quiet}`);
      return;
    }
    await sleep(1_000);
  }
}
