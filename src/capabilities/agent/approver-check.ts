/**
 * `approverCheck`: whether a user may decide approval requests in a workspace, under an `ApprovalPolicy`.
 *
 * Guarantees:
 * - Decided on the server from the policy, never from button values or model output: the workspace's approvers
 *   and approver group (`approversOf`, its settings) when given, else `APPROVER_USER_IDS` and the approver group of
 *   the configuration. One workspace's list never applies to another.
 * - Fails closed: a settings read or a user-group lookup that throws yields `unverified`, which the store refuses
 *   like `not_approver` (and audits separately).
 */

/** A workspace's approvers: named people and, optionally, the members of a user group. */
export interface WorkspaceApprovers {
  userIds: readonly string[];
  groupId?: string | undefined;
}

export interface ApprovalPolicy {
  approverUserIds: readonly string[];
  allowSelfApproval: boolean;
  /** Membership in the approver user group (`APPROVER_USER_GROUP_ID`); should be cached by the caller. */
  isInApproverGroup?: (userId: string, workspaceId: string) => Promise<boolean>;
  /**
   * The approvers of one workspace (its settings). When given, it replaces `approverUserIds` and
   * `isInApproverGroup`: the group named there is checked with `isInGroup`.
   */
  approversOf?: (workspaceId: string) => Promise<WorkspaceApprovers>;
  /** Membership in any user group of a workspace (cached by the caller); without it, no group grants approval. */
  isInGroup?: (userId: string, workspaceId: string, groupId: string) => Promise<boolean>;
}

export async function approverCheck(
  policy: ApprovalPolicy,
  userId: string,
  workspaceId: string,
): Promise<'approver' | 'not_approver' | 'unverified'> {
  let approvers: WorkspaceApprovers | undefined;
  try {
    approvers = policy.approversOf ? await policy.approversOf(workspaceId) : undefined;
  } catch {
    return 'unverified';
  }
  if ((approvers?.userIds ?? policy.approverUserIds).includes(userId)) return 'approver';
  const groupId = approvers?.groupId;
  const isInGroup = policy.isInGroup;
  const inGroup = approvers
    ? groupId && isInGroup
      ? (user: string, workspace: string) => isInGroup(user, workspace, groupId)
      : undefined
    : policy.isInApproverGroup;
  if (!inGroup) return 'not_approver';
  try {
    return (await inGroup(userId, workspaceId)) ? 'approver' : 'not_approver';
  } catch {
    return 'unverified';
  }
}
