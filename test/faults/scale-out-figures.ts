/**
 * The "Done when" figures of issue 17, computed from a scenario result (scale-out-scenario.ts), and the report
 * the fault test prints. Pure: everything here reads the result, nothing talks to a process.
 */
import { histogram, type ReplyState } from './reply-census.ts';
import type { ScenarioResult } from './scenario-settings.ts';

export interface Figures {
  repliesPerEvent: Record<string, number>;
  lostEvents: string[];
  /** How each lost event was delivered (retry number → replica, status, when). */
  lostDeliveries: string[];
  /** Events Slack would have given up on: no 2xx in four attempts. */
  undelivered: string[];
  duplicateReplies: { marker: string; replies: ReplyState[]; deliveries: string }[];
  strays: number;
  halfWritten: { where: string; reply: ReplyState }[];
  /** Non-answer replies to mentions, grouped by their text. */
  mentionRefusals: Record<string, number>;
  /** Ms from the replica kill to the last finished reply of the events unanswered at the kill. */
  lastReplyAfterKillMs: number | undefined;
  inFlightAtKill: number;
  /** Ms from the kill to the last finished reply of the events whose stream the killed replica had open. */
  victimLastReplyAfterKillMs: number | undefined;
  /** Ms from an event's first delivery to its first finished reply: p50, p90, max. */
  replyLatencyMs: { p50: number; p90: number; max: number } | undefined;
  victimStreams: { open: number; finishedBy: Record<string, number>; sameMessage: number };
  /** Ingress refusals (non-2xx, no answer) by phase, then `status reason` → count. */
  refusals: Record<string, Record<string, number>>;
  /** Refused HTTP answers (a status, not a dropped connection) with an empty body. */
  refusalsWithoutReason: number;
  asks: Record<
    'A' | 'B',
    { sent: number; accepted: number; outcomes: Record<string, number>; replyCounts: Record<string, number> }
  >;
  askHalfWritten: number;
  spendOverCap: number;
  notReady: Record<string, string[]>;
}

const answered = /opens at 6:15/;
const shortText = (text: string) =>
  text
    .replace(/\s+/g, ' ')
    .replace(/fq-[a-z]+-\d+/g, '…')
    .slice(0, 110);

function phaseOf(at: number, result: ScenarioResult): string {
  const t = result.timeline;
  if (t.redisRestartedAt !== undefined && at >= t.redisRestartedAt) return 'after the Redis restart';
  if (t.masterKilledAt !== undefined && at >= t.masterKilledAt) {
    return t.failedOverAt === undefined || at <= t.failedOverAt + 2_000
      ? 'during the failover (master killed → promoted + 2 s)'
      : 'after the failover';
  }
  if (t.replicaKilledAt !== undefined && at >= t.replicaKilledAt) return 'replica killed, before the master kill';
  return 'before any fault';
}

export function computeFigures(result: ScenarioResult): Figures {
  const census = result.mentionReplies;
  const repliesPerEvent = histogram(census.map((entry) => entry.replies.length));
  const lostEvents = census.filter((entry) => entry.replies.length === 0).map((entry) => entry.event.marker);
  const undelivered = result.deliveries.filter((delivery) => !delivery.delivered).map((delivery) => delivery.key);
  const start = result.timeline.burstStartedAt ?? 0;
  const deliveriesOf = (eventId: string) =>
    (result.deliveries.find((delivery) => delivery.key === eventId)?.attempts ?? [])
      .map(
        (attempt) =>
          `#${attempt.retryNum}→${attempt.replica} ${attempt.status || 'x'} @${((attempt.sentAt - start) / 1000).toFixed(1)}s`,
      )
      .join(' ');
  const duplicateReplies = census
    .filter((entry) => entry.replies.length > 1)
    .map((entry) => ({
      marker: entry.event.marker,
      replies: entry.replies,
      deliveries: deliveriesOf(entry.event.eventId),
    }));
  const lostDeliveries = census
    .filter((entry) => entry.replies.length === 0)
    .map((entry) => `${entry.event.marker}: ${deliveriesOf(entry.event.eventId)}`);
  const halfWritten = census.flatMap((entry) =>
    entry.replies.filter((reply) => reply.halfWritten).map((reply) => ({ where: entry.event.marker, reply })),
  );
  const askHalf = result.askReplies.flatMap((entry) =>
    entry.census.replies.filter((reply) => reply.halfWritten).map((reply) => ({ where: entry.census.marker, reply })),
  );
  const mentionRefusals: Record<string, number> = {};
  for (const entry of census) {
    for (const reply of entry.replies) {
      if (answered.test(reply.text)) continue;
      const key = shortText(reply.text) || '(empty text)';
      mentionRefusals[key] = (mentionRefusals[key] ?? 0) + 1;
    }
  }

  const killAt = result.timeline.replicaKilledAt;
  let lastReplyAfterKillMs: number | undefined;
  let inFlightAtKill = 0;
  if (killAt !== undefined) {
    for (const entry of census) {
      if (entry.event.firstSentAt > killAt) continue;
      const finishedBefore = entry.replies.some(
        (reply) => reply.finishedAt !== undefined && reply.finishedAt <= killAt,
      );
      if (finishedBefore) continue;
      inFlightAtKill += 1;
      const finished = entry.replies.map((reply) => reply.finishedAt).filter((at) => at !== undefined);
      if (finished.length === 0) continue;
      lastReplyAfterKillMs = Math.max(lastReplyAfterKillMs ?? 0, Math.max(...finished) - killAt);
    }
  }
  let victimLastReplyAfterKillMs: number | undefined;
  const victimStreams = { open: 0, finishedBy: {} as Record<string, number>, sameMessage: 0 };
  for (const open of result.timeline.victimOpenStreamsAtKill ?? []) {
    victimStreams.open += 1;
    const entry = census.find(
      (candidate) => candidate.event.channel === open.channel && candidate.event.ts === open.threadTs,
    );
    const finished = entry?.replies.filter((reply) => reply.finishedAt !== undefined) ?? [];
    const by = finished.map((reply) => reply.finishedBy ?? '?').join('+') || 'never finished';
    victimStreams.finishedBy[by] = (victimStreams.finishedBy[by] ?? 0) + 1;
    if (entry?.replies.length === 1 && finished.length === 1) victimStreams.sameMessage += 1;
    for (const reply of finished) {
      const after = (reply.finishedAt as number) - (killAt ?? 0);
      victimLastReplyAfterKillMs = Math.max(victimLastReplyAfterKillMs ?? 0, after);
    }
  }
  const latencies = census
    .map((entry) => {
      const finished = entry.replies.map((reply) => reply.finishedAt).filter((at) => at !== undefined);
      return finished.length ? Math.min(...finished) - entry.event.firstSentAt : undefined;
    })
    .filter((latency) => latency !== undefined)
    .sort((a, b) => a - b);
  const percentile = (share: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(share * latencies.length))] ?? 0;
  const replyLatencyMs = latencies.length
    ? { p50: percentile(0.5), p90: percentile(0.9), max: latencies.at(-1) ?? 0 }
    : undefined;

  const refusals: Record<string, Record<string, number>> = {};
  let refusalsWithoutReason = 0;
  for (const delivery of [...result.deliveries, ...result.commands.map((command) => command.outcome)]) {
    for (const attempt of delivery.attempts) {
      if (attempt.status >= 200 && attempt.status < 300) continue;
      const phase = phaseOf(attempt.sentAt, result);
      const key = `${attempt.status === 0 ? 'no answer' : attempt.status} ${shortText(attempt.reason)} (${attempt.replica})`;
      refusals[phase] ??= {};
      (refusals[phase] as Record<string, number>)[key] = ((refusals[phase] as Record<string, number>)[key] ?? 0) + 1;
      if (attempt.status !== 0 && attempt.reason.replace(/^\d+/, '').trim() === '') refusalsWithoutReason += 1;
    }
  }

  const asks = {} as Figures['asks'];
  for (const round of ['A', 'B'] as const) {
    const commands = result.commands.filter((command) => command.round === round);
    const outcomes: Record<string, number> = {};
    const replyCounts: Record<string, number> = {};
    for (const entry of result.askReplies.filter((candidate) => candidate.round === round)) {
      const count = entry.census.replies.length + entry.census.ephemerals.length;
      replyCounts[String(count)] = (replyCounts[String(count)] ?? 0) + 1;
      const texts = [...entry.census.replies.map((reply) => reply.text), ...entry.census.ephemerals];
      const key =
        texts.length === 0
          ? 'no reply'
          : texts.some((text) => answered.test(text))
            ? 'answered'
            : shortText(texts.join(' | '));
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    asks[round] = {
      sent: commands.length,
      accepted: commands.filter((command) => command.outcome.delivered).length,
      outcomes,
      replyCounts,
    };
  }

  const notReady: Record<string, string[]> = {};
  for (const replica of result.fleet.replicas) {
    const changes = result.fleet.readiness.filter((change) => change.replica === replica.name);
    notReady[replica.name] = changes.flatMap((change, index) => {
      if (change.status === 200) return [];
      const until = changes[index + 1]?.at;
      const span = until === undefined ? 'until the end' : `${((until - change.at) / 1000).toFixed(1)} s`;
      return [
        `@${((change.at - start) / 1000).toFixed(1)} s for ${span}: ${change.status} ${shortText(change.reason)}`,
      ];
    });
  }

  return {
    repliesPerEvent,
    lostEvents,
    lostDeliveries,
    undelivered,
    duplicateReplies,
    strays: result.strays,
    halfWritten,
    mentionRefusals,
    lastReplyAfterKillMs,
    inFlightAtKill,
    victimLastReplyAfterKillMs,
    replyLatencyMs,
    victimStreams,
    refusals,
    refusalsWithoutReason,
    asks,
    askHalfWritten: askHalf.length,
    spendOverCap: result.capChannelSpend.microUsd / result.capMicroUsd,
    notReady,
  };
}

const seconds = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

export function formatReport(result: ScenarioResult, figures: Figures): string {
  const t = result.timeline;
  const from = (at: number | undefined) =>
    at === undefined || t.burstStartedAt === undefined ? 'n/a' : seconds(at - t.burstStartedAt);
  const lines = [
    '══ Scale-out fault test (issue 17) ══',
    `Timeline (from the burst's start): replica ${t.victim ?? '?'} SIGKILLed at ${from(t.replicaKilledAt)} with ${t.victimOpenStreamsAtKill?.length ?? 0} answers streaming, ready again at ${from(t.replicaReadyAgainAt)}; Redis master :${t.masterKilledPort ?? '?'} SIGKILLed at ${from(t.masterKilledAt)}, :${t.newMasterPort ?? '?'} promoted at ${from(t.failedOverAt)} (${seconds(t.failedOverAt !== undefined && t.masterKilledAt !== undefined ? t.failedOverAt - t.masterKilledAt : undefined)}); master :${t.redisRestartedPort ?? '?'} restarted without persistence (SIGKILL + empty start on its port) at ${from(t.redisRestartedAt)}, keys ${t.keysBeforeRestart ?? '?'} → ${t.keysAfterRestart ?? '?'}; all replicas ready at ${from(t.allReadyAfterRestartAt)}; burst sent by ${from(t.burstEndedAt)}; settled at ${from(t.settledAt)} (quiet: ${t.quiet ?? false})`,
    `Mentions: ${result.events.length} at 50/s, each delivered twice to different replicas; Slack deliveries: ${result.deliveries.reduce((sum, delivery) => sum + delivery.attempts.length, 0)} attempts, ${figures.undelivered.length} events never acknowledged after 3 retries`,
    `  replies per event: ${JSON.stringify(figures.repliesPerEvent)}`,
    `  lost events (no reply): ${figures.lostEvents.length}${figures.lostEvents.length ? ` — ${figures.lostDeliveries.slice(0, 6).join('; ')}${figures.lostEvents.length > 6 ? '; …' : ''}` : ''}`,
    `  duplicate replies: ${figures.duplicateReplies.reduce((sum, entry) => sum + entry.replies.length - 1, 0)} in ${figures.duplicateReplies.length} events${
      figures.duplicateReplies.length
        ? ` — ${figures.duplicateReplies
            .slice(0, 8)
            .map(
              (entry) =>
                `${entry.marker}: replies ${entry.replies.map((reply) => `${reply.startedBy ?? '?'}→${reply.finishedBy ?? 'unfinished'}`).join(', ')}; deliveries ${entry.deliveries}`,
            )
            .join('; ')}`
        : ''
    }; stray bot messages outside the threads: ${figures.strays}`,
    `  half-written messages: ${figures.halfWritten.length + figures.askHalfWritten} (mentions ${figures.halfWritten.length}, /ask ${figures.askHalfWritten})${
      figures.halfWritten.length
        ? ` — ${figures.halfWritten
            .slice(0, 6)
            .map((entry) => `${entry.where} by ${entry.reply.startedBy ?? '?'}`)
            .join(', ')}`
        : ''
    }`,
    `  replies that are not the answer: ${JSON.stringify(figures.mentionRefusals)}`,
    `  replica kill: ${figures.inFlightAtKill} events unanswered at the kill; time to the last reply after the kill: ${seconds(figures.lastReplyAfterKillMs)}; the victim's ${figures.victimStreams.open} open streams were finished by ${JSON.stringify(figures.victimStreams.finishedBy)} (${figures.victimStreams.sameMessage} with a single message), the last ${seconds(figures.victimLastReplyAfterKillMs)} after the kill`,
    `  time from an event's first delivery to its reply: ${figures.replyLatencyMs ? `p50 ${seconds(figures.replyLatencyMs.p50)}, p90 ${seconds(figures.replyLatencyMs.p90)}, max ${seconds(figures.replyLatencyMs.max)}` : 'n/a'}`,
    'Requests refused (by phase; status, reason, replica → count):',
    ...Object.entries(figures.refusals).map(([phase, reasons]) => `  ${phase}: ${JSON.stringify(reasons)}`),
    `  refused answers without a reason: ${figures.refusalsWithoutReason}`,
    'Readiness (/readyz not 200):',
    ...Object.entries(figures.notReady).map(
      ([name, spans]) => `  ${name}: ${spans.length ? spans.join('; ') : 'always ready'}`,
    ),
    ...(['A', 'B'] as const).map(
      (round) =>
        `/ask round ${round} (${round === 'A' ? 'before' : 'after'} the Redis restart): ${figures.asks[round].accepted}/${figures.asks[round].sent} accepted; replies per /ask ${JSON.stringify(figures.asks[round].replyCounts)}; outcomes ${JSON.stringify(figures.asks[round].outcomes)}`,
    ),
    `Cap channel: cap $${(result.capMicroUsd / 1e6).toFixed(4)}/day; true spend (fake OpenAI's tokens at list prices) $${(result.capChannelSpend.microUsd / 1e6).toFixed(6)} over ${result.capChannelSpend.chatCalls} answers → spend/cap ${figures.spendOverCap.toFixed(2)}`,
    'Budget counters vs the spend record (µ$, today):',
    ...result.budget.map(
      (snap) =>
        `  ${snap.label}: channel counter ${snap.channelSpent} vs record ${snap.recordChannel} (reserved ${snap.channelReserved}); workspace counter ${snap.workspaceSpent} vs record ${snap.recordWorkspace}; record entries ${snap.recordEntries} ${JSON.stringify(snap.recordKinds)}; cap hash ${JSON.stringify(snap.channelCaps)}; seeded ${snap.seeded ?? 'none'}`,
    ),
  ];
  if (result.logDirectory) lines.push(`Replica logs: ${result.logDirectory}`);
  if (result.errors.length) lines.push('Scenario errors:', ...result.errors.map((error) => `  ${error}`));
  return lines.join('\n');
}
