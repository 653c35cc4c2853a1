/**
 * Block Kit ids of the agent's buttons. Approve/Reject keep the values of `actions.approvalApprove` /
 * `actions.approvalReject` in `src/slack-kit/ids.ts`, which the manifest test checks; Stop is new.
 */
export const agentActionIds = {
  approve: 'approval_approve',
  reject: 'approval_reject',
  stop: 'agent_stop',
} as const;

export const agentBlockIds = {
  approvalActions: 'agent_approval_actions',
  progressActions: 'agent_progress_actions',
} as const;

export type AgentActionId = (typeof agentActionIds)[keyof typeof agentActionIds];

export function isAgentActionId(actionId: string): actionId is AgentActionId {
  return (Object.values(agentActionIds) as string[]).includes(actionId);
}
