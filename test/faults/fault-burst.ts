/**
 * The burst of the scenario: 300 mentions at 50/s, each delivered twice, and the faults at their times into it —
 * the replica streaming the most answers SIGKILLed and started again; the Redis master SIGKILLed, the sentinels'
 * failover awaited and the old master started again (empty; the sentinels make it a replica); the current master
 * restarted without persistence. Then, once every replica is ready, round B of `/ask`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { askRound } from './ask-rounds.ts';
import type { ReplicaFleet } from './replica-fleet.ts';
import type { DeliveryOutcome, RoundRobin } from './round-robin.ts';
import { type ScenarioResult, settings } from './scenario-settings.ts';
import type { SentinelGroup } from './sentinel-group.ts';

/** The 300 mentions at 50/s, with the faults done at their times into the burst; then round B. */
export async function burst(
  router: RoundRobin,
  group: SentinelGroup,
  fleet: ReplicaFleet,
  result: ScenarioResult,
  log: (line: string) => void,
  snapshot: (label: string) => Promise<void>,
): Promise<void> {
  const timeline = result.timeline;
  const started = Date.now();
  timeline.burstStartedAt = started;
  const at = (ms: number) => sleep(Math.max(0, started + ms - Date.now()));
  const deliveries: Promise<DeliveryOutcome>[] = [];
  const sending = (async () => {
    for (let index = 0; index < settings.mentions; index += 1) {
      await at((index * 1000) / settings.mentionsPerSecond);
      const marker = `fq-m-${index + 1}`;
      const channel = `C0FAULT${String(index % settings.mentionChannels).padStart(3, '0')}`;
      const mention = slackPayloads.appMention({
        text: `<@U0BOT> ask: When does the loading dock in Bremen open? ${marker}`,
        channel,
      });
      const event = mention.payload.event as { ts: string };
      result.events.push({
        eventId: String(mention.payload.event_id),
        channel,
        ts: event.ts,
        marker,
        firstSentAt: Date.now(),
      });
      deliveries.push(router.deliverEvent(mention, { duplicateAfterMs: settings.duplicateAfterMs }));
    }
    timeline.burstEndedAt = Date.now();
  })();

  const replicaFault = (async () => {
    await at(settings.killReplicaAtMs);
    const victim = busiestStreamer(fleet);
    timeline.victim = victim.name;
    timeline.victimOpenStreamsAtKill = victim.open;
    timeline.replicaKilledAt = Date.now();
    await fleet.kill(victim.name);
    log(`SIGKILL ${victim.name} with ${victim.open.length} answers streaming`);
    const readyMs = await fleet.restart(victim.name);
    timeline.replicaReadyAgainAt = Date.now();
    log(`${victim.name} started again, ready after ${readyMs} ms`);
  })();

  let rejoined: Promise<void> = Promise.resolve();
  const redisFaults = (async () => {
    await at(settings.killMasterAtMs);
    const oldPort = await group.killMaster();
    timeline.masterKilledAt = Date.now();
    timeline.masterKilledPort = oldPort;
    log(`SIGKILL Redis master :${oldPort}`);
    const newPort = await group.waitForFailover(oldPort);
    timeline.failedOverAt = Date.now();
    timeline.newMasterPort = newPort;
    log(`sentinels promoted :${newPort} after ${timeline.failedOverAt - timeline.masterKilledAt} ms`);
    await group.startAgain(oldPort);
    // The sentinels take 10–15 s to turn the returned server into a replica: not awaited before the restart.
    rejoined = group.waitForReplica(newPort, 90_000).then(
      () => log(`:${oldPort} back as a replica of :${newPort}`),
      (error: unknown) => log(`:${oldPort} did not rejoin: ${String(error)}`),
    );
    await snapshot('after failover');
    await at(settings.restartRedisNotBeforeMs);
    const restart = await group.restartMasterWithoutPersistence();
    timeline.redisRestartedAt = Date.now();
    timeline.redisRestartedPort = restart.port;
    timeline.keysBeforeRestart = restart.keysBefore;
    timeline.keysAfterRestart = restart.keysAfter;
    log(
      `Redis master :${restart.port} restarted without persistence: ${restart.keysBefore} keys before, ${restart.keysAfter} after`,
    );
  })();

  await Promise.all([sending, replicaFault, redisFaults]);
  await waitAllReady(fleet, 60_000);
  timeline.allReadyAfterRestartAt = Date.now();
  timeline.roundBStartedAt = Date.now();
  await askRound(router, result, 'B');
  result.deliveries = await Promise.all(deliveries);
  await rejoined;
}

/** The replica with the most streams it started and has not stopped (from the taps). */
function busiestStreamer(fleet: ReplicaFleet): { name: string; open: { channel: string; threadTs: string }[] } {
  let best = { name: fleet.replicas[1]?.name ?? 'r2', open: [] as { channel: string; threadTs: string }[] };
  for (const replica of fleet.replicas) {
    const calls = fleet.egress.filter((call) => call.replica === replica.name && call.ok);
    const stopped = new Set(calls.filter((call) => call.method === 'chat.stopStream').map((call) => call.ts));
    const open = calls
      .filter((call) => call.method === 'chat.startStream' && !stopped.has(call.ts))
      .map((call) => ({ channel: call.channel ?? '', threadTs: call.threadTs ?? '' }));
    if (open.length > best.open.length) best = { name: replica.name, open };
  }
  return best;
}

async function waitAllReady(fleet: ReplicaFleet, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(
      fleet.replicas.map((replica) =>
        fetch(`http://127.0.0.1:${replica.port}/readyz`).then(
          (response) => response.status,
          () => 0,
        ),
      ),
    );
    if (statuses.every((status) => status === 200)) return;
    await sleep(250);
  }
  throw new Error(`not every replica was ready within ${timeoutMs} ms after the Redis restart`);
}
