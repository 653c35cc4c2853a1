/**
 * `approverCheck`: whether a user may decide approval requests in a workspace, under an `ApprovalPolicy`.
 *
 * Guarantees:
 * - Decided on the server from the policy (`APPROVER_USER_IDS`, or membership in the approver user group), never
 *   from button values or model output.
 * - Fails closed: a user-group lookup that throws yields `unverified`, which the store refuses like
 *   `not_approver` (and audits separately).
 */

export interface ApprovalPolicy {
  approverUserIds: readonly string[];
  allowSelfApproval: boolean;
  /** Membership in the approver user group (`APPROVER_USER_GROUP_ID`); should be cached by the caller. */
  isInApproverGroup?: (userId: string, workspaceId: string) => Promise<boolean>;
}

export async function approverCheck(
  policy: ApprovalPolicy,
  userId: string,
  workspaceId: string,
): Promise<'approver' | 'not_approver' | 'unverified'> {
  if (policy.approverUserIds.includes(userId)) return 'approver';
  if (!policy.isInApproverGroup) return 'not_approver';
  try {
    return (await policy.isInApproverGroup(userId, workspaceId)) ? 'approver' : 'not_approver';
  } catch {
    return 'unverified';
  }
}
