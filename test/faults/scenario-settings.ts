/**
 * What the scale-out fault scenario does and with which figures (issue 17, item 7), and the shape of its result.
 * Shared by the scenario's parts (scale-out-scenario.ts, ask-rounds.ts, fault-burst.ts) and the report.
 */
import type { FakeOpenAIServer } from '../fakes/openai-server.ts';
import type { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import type { BudgetSnapshot, TrueSpend } from './budget-figures.ts';
import type { ReplicaFleet } from './replica-fleet.ts';
import type { CommandCensus, EventCensus, MentionEvent } from './reply-census.ts';
import type { DeliveryOutcome } from './round-robin.ts';

export const settings = {
  replicas: 3,
  mentions: 300,
  mentionsPerSecond: 50,
  /** Mentions are spread over this many channels (Slack paces posts per channel, about 1 per second). */
  mentionChannels: 100,
  /** The planned second delivery of each event (a Slack retry) follows the first after this long. */
  duplicateAfterMs: 250,
  asksPerRound: 60,
  /** The cap channel's daily cap, set by an admin with `/budget set`. */
  capUsd: 0.002,
  /** Into the burst: the replica kill, the master kill, and the earliest Redis restart. */
  killReplicaAtMs: 1_500,
  killMasterAtMs: 2_000,
  restartRedisNotBeforeMs: 4_500,
  /** Stream pacing: one server-sent event every this many ms (about 3 s per answer). */
  modelEventIntervalMs: 250,
  /** Longer than the 30 s delivery lease, so a re-run after an expired lease still shows up. */
  quietMs: 35_000,
  settleDeadlineMs: 180_000,
  ports: { masterPort: 7500, replicaPort: 7501, sentinelPorts: [7510, 7511, 7512] },
};

export const workspaceId = 'T111';
export const capChannel = 'C0FAULTCAP';
export const admin = 'W0ADMIN';
export const signingSecret = 'faults-signing-secret-123456';
export const adminToken = 'faults-admin-token-0123456789abcdef0123';
export const sentinelName = 'deskhand-faults';
export const markerPattern = /fq-[a-z]+-[0-9]+/;
export const document = [
  '# Loading dock',
  '',
  'The loading dock in Bremen opens at 6:15 on weekdays for parcel returns and closes at 18:00.',
].join('\n');

/** The scripted model: every answer names its question's marker, so a reply shows which event it answers. */
export function answerFor(body: Record<string, unknown>): string {
  const marker = markerPattern.exec(JSON.stringify(body.messages ?? ''))?.[0] ?? 'fq-none-0';
  return `The loading dock in Bremen opens at 6:15 on weekdays and closes at 18:00 [1]. (${marker})`;
}

export interface Timeline {
  burstStartedAt: number;
  burstEndedAt: number;
  victim: string;
  victimOpenStreamsAtKill: { channel: string; threadTs: string }[];
  replicaKilledAt: number;
  replicaReadyAgainAt: number;
  masterKilledAt: number;
  masterKilledPort: number;
  failedOverAt: number;
  newMasterPort: number;
  redisRestartedAt: number;
  redisRestartedPort: number;
  keysBeforeRestart: number;
  keysAfterRestart: number;
  allReadyAfterRestartAt: number;
  roundBStartedAt: number;
  settledAt: number;
  quiet: boolean;
}

export interface ScenarioResult {
  timeline: Partial<Timeline>;
  events: MentionEvent[];
  deliveries: DeliveryOutcome[];
  commands: { round: 'A' | 'B'; outcome: DeliveryOutcome }[];
  mentionReplies: EventCensus[];
  askReplies: { round: 'A' | 'B'; census: CommandCensus }[];
  strays: number;
  budget: BudgetSnapshot[];
  capChannelSpend: TrueSpend;
  capMicroUsd: number;
  fleet: ReplicaFleet;
  slack: FakeSlackWebApi;
  openai: FakeOpenAIServer;
  errors: string[];
  /** Where the replicas' output was saved (kept after the run). */
  logDirectory?: string;
}

/** Today's budget windows (the replicas run with TIME_ZONE=UTC). */
export const today = () => {
  const now = new Date();
  return { day: now.toISOString().slice(0, 10), month: now.toISOString().slice(0, 7) };
};
