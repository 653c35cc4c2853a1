/**
 * The approval card: states exactly what will happen (the tool's own description of the call, the target and
 * the arguments verbatim), with Approve and Reject. A resolved card loses its buttons and says who decided.
 * Model-produced text on the card is escaped so it cannot mention users or fake links.
 */
import type { Block, OutgoingMessage } from '../../ports/messenger.ts';
import { agentActionIds, agentBlockIds } from '../../slack-kit/agent-ids.ts';
import { button, context, section } from '../../slack-kit/blocks.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import { approvalButtonValue } from './approval-hash.ts';
import type { ApprovalRequest } from './approval-request.ts';

const argumentsChars = 1500;

function describeRequest(request: ApprovalRequest): Block[] {
  if (request.kind === 'extend_bound' || request.kind === 'continue_after_errors') {
    return [
      section(
        request.kind === 'extend_bound'
          ? ':pause_button: *The run reached a limit with work left.* Approve to let it continue, reject to end it.'
          : ':warning: *The run hit errors that need a human.* Approve to let it try again, reject to end it.',
      ),
      section(`*What continuing means:* ${escapeMrkdwn(request.summary)}`),
      context(
        `Requested by <@${request.requesterId}> for run \`${request.runId.slice(0, 8)}\` · approval ${request.hash.slice(0, 12)} · expires <!date^${Math.floor(request.expiresAt / 1000)}^{date_short_pretty} {time}|${new Date(request.expiresAt).toISOString()}> (expiry ends the run)`,
      ),
    ];
  }
  const heading =
    request.kind === 'uncertain_write'
      ? ':warning: *A write may or may not have happened before a restart.* Approve to run it again, reject to leave it.'
      : ':raised_hand: *The agent wants to do something that needs approval.*';
  const argumentsText = truncate(JSON.stringify(JSON.parse(request.canonicalArguments), null, 2), argumentsChars);
  return [
    section(heading),
    section(`*What will happen:* ${escapeMrkdwn(request.summary)}`),
    section(
      `*Tool:* \`${request.tool}\`   *Target:* ${renderTarget(request.target)}\n\`\`\`${escapeMrkdwn(argumentsText).replace(/```/g, "'''")}\`\`\``,
    ),
    context(
      `Requested by <@${request.requesterId}> for run \`${request.runId.slice(0, 8)}\` · approval ${request.hash.slice(0, 12)} · expires <!date^${Math.floor(request.expiresAt / 1000)}^{date_short_pretty} {time}|${new Date(request.expiresAt).toISOString()}>`,
    ),
  ];
}

function renderTarget(target: string): string {
  const channel = /^channel:([CG][A-Z0-9]+)$/.exec(target)?.[1];
  return channel ? `<#${channel}> (\`${channel}\`)` : `\`${escapeMrkdwn(target)}\``;
}

/** The pending card, with Approve and Reject buttons carrying the request id and hash. */
export function renderApprovalCard(request: ApprovalRequest): OutgoingMessage {
  const value = approvalButtonValue(request);
  return {
    channel: request.channelId,
    ...(request.threadTs ? { threadTs: request.threadTs } : {}),
    text:
      request.kind === 'extend_bound' || request.kind === 'continue_after_errors'
        ? `Continue the run? ${truncate(request.summary, 300)}`
        : `Approval needed: ${truncate(request.summary, 300)}`,
    blocks: [
      ...describeRequest(request),
      {
        type: 'actions',
        block_id: agentBlockIds.approvalActions,
        elements: [
          button({ actionId: agentActionIds.approve, text: 'Approve', value, style: 'primary' }),
          button({ actionId: agentActionIds.reject, text: 'Reject', value, style: 'danger' }),
        ],
      },
    ],
  };
}

/** The card once decided or expired: no buttons, who decided and when. */
export function renderResolvedApprovalCard(request: ApprovalRequest): OutgoingMessage {
  const when = request.decidedAt ? ` at ${new Date(request.decidedAt).toISOString()}` : '';
  let verdict: string;
  if (request.reason === 'expired') verdict = `:hourglass: *Expired* without a decision${when}: treated as rejected.`;
  else if (request.reason === 'stopped')
    verdict = `:octagonal_sign: *Cancelled*: the run was stopped by <@${request.decidedBy}>${when}.`;
  else if (request.status === 'approved') verdict = `:white_check_mark: *Approved* by <@${request.decidedBy}>${when}.`;
  else verdict = `:x: *Rejected* by <@${request.decidedBy}>${when}.`;
  return {
    channel: request.channelId,
    ...(request.threadTs ? { threadTs: request.threadTs } : {}),
    text: `${request.status === 'approved' ? 'Approved' : 'Rejected'}: ${truncate(request.summary, 300)}`,
    blocks: [...describeRequest(request).slice(1), section(verdict)],
  };
}
