/**
 * The scenario's steps around the capped channel: the document every answer cites (ingested through one replica's
 * `POST /admin/ingest`), the admin's `/budget set`, and the rounds of concurrent `/ask` with the wait for their
 * replies. Each `/ask` carries a marker (`fq-aa-17`: round A, 17th) that the scripted model repeats in its answer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { slackPayloads } from '../fakes/slack-driver.ts';
import type { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { type CommandCensus, commandCensus } from './reply-census.ts';
import type { RoundRobin } from './round-robin.ts';
import {
  admin,
  adminToken,
  capChannel,
  document,
  type ScenarioResult,
  settings,
  workspaceId,
} from './scenario-settings.ts';

export async function ingestDocument(port: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/admin/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      workspaceId,
      scope: 'workspace',
      source: 'faults/loading-dock.md',
      fileName: 'loading-dock.md',
      contentBase64: Buffer.from(document).toString('base64'),
    }),
  });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`ingestion failed: ${response.status} ${body}`);
}

export async function setCap(router: RoundRobin, slack: FakeSlackWebApi): Promise<void> {
  const command = slackPayloads.slashCommand({
    command: '/budget',
    text: `set ${settings.capUsd} daily`,
    channel: capChannel,
    user: admin,
  });
  const outcome = await router.sendCommand('budget-set', command);
  if (!outcome.delivered) throw new Error(`/budget set failed: ${JSON.stringify(outcome.attempts)}`);
  for (let tries = 0; tries < 100; tries += 1) {
    if (slack.ephemeralMessages.some((message) => /daily model budget .* is now/.test(message.text))) return;
    await sleep(100);
  }
  throw new Error('/budget set was not confirmed');
}

const askMarkers = (round: 'A' | 'B') =>
  Array.from({ length: settings.asksPerRound }, (_, index) => `fq-a${round.toLowerCase()}-${index + 1}`);

/** 60 `/ask` at once in the cap channel, spread over the replicas by the round-robin. */
export async function askRound(router: RoundRobin, result: ScenarioResult, round: 'A' | 'B'): Promise<void> {
  const outcomes = await Promise.all(
    askMarkers(round).map((marker) =>
      router.sendCommand(
        marker,
        slackPayloads.slashCommand({
          command: '/ask',
          text: `When does the loading dock in Bremen open? ${marker}`,
          channel: capChannel,
          user: `W0ASK${round}${marker.split('-').at(-1)}`,
        }),
      ),
    ),
  );
  for (const outcome of outcomes) result.commands.push({ round, outcome });
}

/** Waits until every accepted `/ask` of the round has a finished reply, an ephemeral, or the time is up. */
export async function waitForAsks(result: ScenarioResult, round: 'A' | 'B', timeoutMs: number): Promise<void> {
  const accepted = result.commands.filter((command) => command.round === round && command.outcome.delivered);
  const markers = accepted.map((command) => command.outcome.key);
  const deadline = Date.now() + timeoutMs;
  let census: CommandCensus[] = [];
  for (;;) {
    census = commandCensus(markers, capChannel, result.slack, result.fleet.egress);
    const done = census.every(
      (entry) => entry.ephemerals.length > 0 || entry.replies.some((reply) => reply.finishedAt !== undefined),
    );
    if (done || Date.now() > deadline) break;
    await sleep(500);
  }
  result.askReplies = result.askReplies.filter((entry) => entry.round !== round);
  for (const entry of census) result.askReplies.push({ round, census: entry });
}
