/**
 * `approvalHash`: what an approval is bound to, and the value its card's buttons carry.
 *
 * Guarantees:
 * - The hash is a sha256 over the canonical JSON of (tool, arguments, target, workspace): the same call hashes
 *   the same whatever the key order of its arguments, and any change to one of the four changes the hash.
 * - The button value is the request id and that hash. It is untrusted on the way back: `parseApprovalButtonValue`
 *   only checks its shape, the store compares both against Redis and the runner compares the hash again with the
 *   call it is about to execute.
 */
import { createHash } from 'node:crypto';
import type { ApprovalRequest } from './approval-request.ts';
import { canonicalJson } from './tool-registry.ts';

/** sha256 over the canonical JSON of (tool, arguments, target, workspace): what an approval is bound to. */
export function approvalHash(input: {
  tool: string;
  canonicalArguments: string;
  target: string;
  workspaceId: string;
}): string {
  const payload = canonicalJson({
    tool: input.tool,
    arguments: JSON.parse(input.canonicalArguments) as unknown,
    target: input.target,
    workspaceId: input.workspaceId,
  });
  return createHash('sha256').update(payload).digest('hex');
}

/** The button value: request id and hash. Untrusted on the way back: both are checked against Redis. */
export function approvalButtonValue(request: Pick<ApprovalRequest, 'requestId' | 'hash'>): string {
  return `${request.requestId}.${request.hash}`;
}

export function parseApprovalButtonValue(value: string): { requestId: string; hash: string } | undefined {
  const match = /^([0-9a-f-]{36})\.([0-9a-f]{64})$/.exec(value);
  return match?.[1] && match[2] ? { requestId: match[1], hash: match[2] } : undefined;
}
