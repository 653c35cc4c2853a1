/**
 * The approver user group (`APPROVER_USER_GROUP_ID`): membership read with the real Slack Web API client from the
 * fake Slack's `usergroups.users.list` (spec-validated), cached, and failing closed.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { createApproverGroupCheck } from '../../src/capabilities/agent/approver-group.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createSlackWebClient } from '../../src/slack/outbound/slack-messenger.ts';
import { agentActionIds } from '../../src/slack-kit/agent-ids.ts';
import { FakeSlackWebApi } from '../fakes/slack-web-api.ts';
import { type AgentHarness, buttonValue, bystander, call, createAgentHarness, workspaceId } from './agent-harness.ts';

const groupId = 'S0APPROVERS';
const groupMember = 'U0GROUPMEMBER';

let slack: FakeSlackWebApi;
let harness: AgentHarness | undefined;
const clock = { now: 1_000_000 };

function groupCheck(id = groupId) {
  const client = createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 2000 });
  return createApproverGroupCheck({
    groupId: id,
    listMembers: async (usergroup) => (await client.usergroups.users.list({ usergroup })).users ?? [],
    logger: createSilentLogger(),
    now: () => clock.now,
  });
}

before(async () => {
  slack = await FakeSlackWebApi.start();
  slack.setUserGroup(groupId, [groupMember, 'U0OTHERMEMBER']);
});
afterEach(async () => {
  await harness?.cleanup();
  harness = undefined;
  slack.expectNoViolations();
});
after(async () => {
  await slack.close();
});

describe('approver group membership', () => {
  test('is read from usergroups.users.list and cached for 60 s per workspace', async () => {
    const isMember = groupCheck();
    const before = slack.callsTo('usergroups.users.list').length;
    const answers = await Promise.all([isMember(groupMember, 'T1'), isMember(bystander, 'T1')]);
    assert.deepEqual(answers, [true, false]);
    assert.equal(slack.callsTo('usergroups.users.list').length - before, 1, 'concurrent checks share one lookup');
    assert.equal(slack.callsTo('usergroups.users.list').at(-1)?.params.usergroup, groupId);
    clock.now += 59_000;
    assert.equal(await isMember(groupMember, 'T1'), true);
    assert.equal(slack.callsTo('usergroups.users.list').length - before, 1, 'cached within 60 s');
    clock.now += 2_000;
    slack.setUserGroup(groupId, ['U0OTHERMEMBER']);
    assert.equal(await isMember(groupMember, 'T1'), false, 'a removed member loses approval once the cache expires');
    assert.equal(slack.callsTo('usergroups.users.list').length - before, 2);
    slack.setUserGroup(groupId, [groupMember, 'U0OTHERMEMBER']);
  });

  test('a failed lookup throws (never "yes") and is not cached', async () => {
    const isMember = groupCheck();
    slack.inject('usergroups.users.list', { kind: 'server_error', status: 503 });
    await assert.rejects(isMember(groupMember, 'T2'), /Could not list the members of S0APPROVERS/);
    assert.equal(await isMember(groupMember, 'T2'), true, 'the next check looks up again');
  });
});

async function pendingWriteCard(h: AgentHarness) {
  h.fake.enqueueChat({ toolCalls: [call('update_plan', { steps: ['Post it'] })] });
  h.fake.enqueueChat({ toolCalls: [call('post_message', { channel: 'C0TEAM', text: 'hello team' })] });
  h.fake.enqueueChat({ content: 'Posted.' });
  const runId = await h.startRun('Say hello to the team');
  const waiting = await h.waitForRun(runId, (state) => state.status === 'awaiting_approval');
  await h.waitForIdleQueue();
  const request = await h.approvals.get(workspaceId, waiting.awaiting?.requestId ?? '');
  const card = h.messenger.current(request?.card?.channel ?? '', request?.card?.ts ?? '');
  return { runId, value: buttonValue(card, agentActionIds.approve) ?? '' };
}

describe('approvals by the approver group', () => {
  test('a member of the group can approve; a non-member cannot', async () => {
    const h = await createAgentHarness({ isInApproverGroup: groupCheck() });
    harness = h;
    const { runId, value } = await pendingWriteCard(h);
    const refused = await h.service.handleApprovalAction({
      workspaceId,
      userId: bystander,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(refused.kind, 'not_authorised');
    assert.match(refused.message, /not authorised/);
    const approved = await h.service.handleApprovalAction({
      workspaceId,
      userId: groupMember,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(approved.kind, 'decided');
    const ended = await h.waitForRun(runId, (state) => state.status === 'ended');
    assert.equal(ended.outcome?.kind, 'finished');
    assert.deepEqual(
      h.messenger.postsTo('C0TEAM').map((post) => post.text),
      ['hello team'],
    );
  });

  test('a failed group lookup denies with a "could not verify" message and is audited', async () => {
    const h = await createAgentHarness({ isInApproverGroup: groupCheck('S0MISSING') });
    harness = h;
    const { runId, value } = await pendingWriteCard(h);
    const refused = await h.service.handleApprovalAction({
      workspaceId,
      userId: groupMember,
      actionId: agentActionIds.approve,
      value,
    });
    assert.equal(refused.kind, 'not_authorised');
    assert.match(refused.message, /could not verify that you are in the approver group/);
    assert.equal((await h.runs.load(workspaceId, runId))?.status, 'awaiting_approval');
    assert.equal(h.messenger.postsTo('C0TEAM').length, 0);
    const audit = await h.service.auditLog(workspaceId, runId);
    assert.equal(audit.at(-1)?.result, 'refused_unverified');
    assert.equal(audit.at(-1)?.actor, groupMember);
    assert.equal(
      slack.callsTo('usergroups.users.list').at(-1)?.response?.error,
      'no_such_subteam',
      'the lookup really failed at Slack',
    );
  });
});
