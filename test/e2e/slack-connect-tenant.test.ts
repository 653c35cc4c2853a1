/**
 * Issue 14: in a Slack Connect channel a guest from another organisation clicks Deskhand's buttons and runs its
 * slash commands; those payloads name the guest's own team (`team.id`, `team_id`, `user.team_id`) and carry no
 * `authorizations`. The work side must still see the host installation's tenant (the team `auth.test` named at
 * start), or the guest's request would select the other organisation's budgets, cache entries and documents.
 * Runs the real app (app-harness.ts) against the fake Slack Web API, whose bot token belongs to the host team.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CapabilityRequest } from '../../src/ports/capability.ts';
import { actions } from '../../src/slack-kit/ids.ts';
import type { ActionRequest } from '../../src/work/requests.ts';
import { slackPayloads } from '../fakes/slack-driver.ts';
import { type AppHarness, startAppHarness } from './app-harness.ts';

const foreignTeam = 'T0FOREIGN';
const questions: CapabilityRequest[] = [];
const clicks: ActionRequest[] = [];
let harness: AppHarness;

before(async () => {
  harness = await startAppHarness({
    capabilities: {
      question: async (request) => {
        questions.push(request);
        return { kind: 'reply', text: 'answer' };
      },
    },
    interactions: {
      actions: {
        [actions.ticketDiscard]: async (request) => {
          clicks.push(request);
          return undefined;
        },
      },
    },
  });
});

after(async () => {
  await harness?.close();
});

beforeEach(() => {
  questions.length = 0;
  clicks.length = 0;
});

async function settled(): Promise<void> {
  await sleep(20);
  assert.equal(await harness.app.jobs.drain(10_000), true, 'background work did not finish');
}

describe('Slack Connect: a guest organisation’s requests use the host installation’s tenant', () => {
  test('a block_actions click from a guest reaches the work side as the host team', async () => {
    const hostTeam = harness.slack.teamId;
    assert.notEqual(hostTeam, foreignTeam);
    const response = await harness.driver.send(
      slackPayloads.blockActions({
        actionId: actions.ticketDiscard,
        value: 'draft-1',
        teamId: foreignTeam,
        user: 'W0GUEST',
      }),
    );
    assert.equal(response.status, 200);
    await settled();
    assert.equal(clicks.length, 1);
    assert.equal(clicks[0]?.workspaceId, hostTeam);
    assert.equal(clicks[0]?.userId, 'W0GUEST');
  });

  test('a slash command from a guest reaches the router as the host team', async () => {
    const response = await harness.driver.send(
      slackPayloads.slashCommand({
        command: '/ask',
        text: 'how do refunds work',
        teamId: foreignTeam,
        user: 'W0GUEST',
      }),
    );
    assert.equal(response.status, 200);
    await settled();
    assert.equal(questions.length, 1);
    assert.equal(questions[0]?.workspaceId, harness.slack.teamId);
  });
});
