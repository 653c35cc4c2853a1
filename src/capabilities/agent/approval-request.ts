/**
 * `ApprovalRequest` and the value types around it: what an approval request holds, the decisions it can get,
 * their outcomes and the audit log's entries.
 *
 * Guarantees: types only, no behaviour. `decidedBy` is a user id or `expiry`; `status` only ever moves
 * `pending → approved | rejected` (enforced by the store's script, `approval-scripts.ts`).
 */
export type ApprovalStatus = 'pending' | 'approved' | 'rejected';

/**
 * Why the run paused: a write tool's call, a write that may or may not have happened before a crash, a bound
 * reached with work left (`extend_bound`), or errors that need a human (`continue_after_errors`).
 */
export type ApprovalKind = 'write' | 'uncertain_write' | 'extend_bound' | 'continue_after_errors';

export interface ApprovalRequest {
  requestId: string;
  runId: string;
  workspaceId: string;
  channelId: string;
  threadTs: string | undefined;
  requesterId: string;
  kind: ApprovalKind;
  tool: string;
  canonicalArguments: string;
  target: string;
  /** Exactly what will happen, as shown on the card. */
  summary: string;
  toolCallId: string;
  hash: string;
  createdAt: number;
  expiresAt: number;
  status: ApprovalStatus;
  /** A user id, or `expiry` when the request timed out. */
  decidedBy: string | undefined;
  decidedAt: number | undefined;
  reason: 'decision' | 'expired' | 'stopped' | undefined;
  card: { channel: string; ts: string } | undefined;
}

export type NewApprovalRequest = Pick<
  ApprovalRequest,
  | 'runId'
  | 'workspaceId'
  | 'channelId'
  | 'threadTs'
  | 'requesterId'
  | 'kind'
  | 'tool'
  | 'canonicalArguments'
  | 'target'
  | 'summary'
  | 'toolCallId'
>;

export type Decision = 'approved' | 'rejected';

export type DecisionOutcome =
  | { kind: 'decided'; request: ApprovalRequest }
  | { kind: 'already_decided'; request: ApprovalRequest }
  | { kind: 'expired'; request: ApprovalRequest }
  | { kind: 'not_authorised'; reason: 'not_approver' | 'self_approval' | 'unverified' }
  | { kind: 'not_found' }
  | { kind: 'hash_mismatch' };

export interface AuditEntry {
  at: number;
  requestId?: string;
  actor: string;
  action: string;
  result: string;
  decidedBy?: string;
  detail?: string;
}
