/**
 * Durable, authorised human approvals (docs/platform-facts.md, Approvals).
 *
 * Guarantees:
 * - A request is written to Redis before its card is posted (`create` resolves only after the write), and a
 *   click is decided in Redis before the listener acks it (`decide` is awaited on the ack path: one GET and
 *   one Lua call).
 * - The request binds a sha256 of (tool, canonical arguments, target, workspace). The button carries that
 *   hash and the Lua script compares it; the runner compares it again with the call it is about to execute.
 * - The clicker is authorised here, server-side, against `APPROVER_USER_IDS` (or an injected user-group check),
 *   never from button values or model output. The requester cannot approve their own request unless
 *   `ALLOW_SELF_APPROVAL`. Refused attempts are audited.
 * - Exactly one decision wins: `pending → approved | rejected` is a compare-and-set in one Lua script, so double
 *   clicks, two approvers at once and replayed requests all learn who decided first.
 * - Pending requests expire as rejected (`APPROVAL_TTL_SECONDS`): `sweepExpired` is safe to run on every
 *   replica, the CAS lets one of them win.
 * - Every attempt and decision is appended to the run's audit log (a Redis list), readable with `auditLog`.
 *
 * Keys are hash-tagged by workspace (`agent:{T…}:…`) so a request and its run's audit log share a cluster slot.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AgentRedis } from './agent-redis.ts';
import { canonicalJson } from './tool-registry.ts';

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

export interface ApprovalPolicy {
  approverUserIds: readonly string[];
  allowSelfApproval: boolean;
  /** Membership in the approver user group (`APPROVER_USER_GROUP_ID`); should be cached by the caller. */
  isInApproverGroup?: (userId: string, workspaceId: string) => Promise<boolean>;
}

export interface ApprovalStoreOptions {
  redis: AgentRedis;
  keyPrefix: string;
  ttlSeconds: number;
  policy: ApprovalPolicy;
  /** How long decided requests and audit logs are kept. Default 30 days. */
  retentionSeconds?: number;
  now?: () => number;
}

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

// Stores a new pending request and its audit entry atomically.
const createScript = `
redis.call('HSET', KEYS[1], 'requestId', ARGV[1], 'request', ARGV[2], 'status', 'pending', 'hash', ARGV[3],
  'expiresAt', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('RPUSH', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
`;

const appendScript = `
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

// Compare-and-set pending → approved|rejected. ARGV: expected hash ('' skips the check), new status, actor,
// now (ms), reason, action label, audit TTL (s), enforce expiry ('1'|'0').
const decideScript = `
local key, audit = KEYS[1], KEYS[2]
local expected, decision, actor, now, reason, action, auditTtl, enforceExpiry =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local status = redis.call('HGET', key, 'status')
if not status then return {'not_found'} end
local requestId = redis.call('HGET', key, 'requestId')
local function log(result, decidedBy)
  redis.call('RPUSH', audit, cjson.encode({at = tonumber(now), requestId = requestId, actor = actor,
    action = action, result = result, decidedBy = decidedBy}))
  redis.call('EXPIRE', audit, auditTtl)
end
if expected ~= '' and redis.call('HGET', key, 'hash') ~= expected then
  log('hash_mismatch', nil)
  return {'hash_mismatch'}
end
if status ~= 'pending' then
  log('already_decided', redis.call('HGET', key, 'decidedBy'))
  return {'already_decided'}
end
if enforceExpiry == '1' and tonumber(redis.call('HGET', key, 'expiresAt')) <= tonumber(now) then
  redis.call('HSET', key, 'status', 'rejected', 'decidedBy', 'expiry', 'decidedAt', now, 'reason', 'expired')
  log('expired', 'expiry')
  return {'expired'}
end
redis.call('HSET', key, 'status', decision, 'decidedBy', actor, 'decidedAt', now, 'reason', reason)
log(decision, actor)
return {'decided'}
`;

/** The Redis-backed approval store. All methods are safe to call from several replicas at once. */
export class ApprovalStore {
  readonly #redis: AgentRedis;
  readonly #prefix: string;
  readonly #ttlSeconds: number;
  readonly #retentionSeconds: number;
  readonly #policy: ApprovalPolicy;
  readonly #now: () => number;

  constructor(options: ApprovalStoreOptions) {
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix;
    this.#ttlSeconds = options.ttlSeconds;
    this.#retentionSeconds = options.retentionSeconds ?? 30 * 86_400;
    this.#policy = options.policy;
    this.#now = options.now ?? Date.now;
  }

  #requestKey(workspaceId: string, requestId: string): string {
    return `${this.#prefix}agent:{${workspaceId}}:approval:${requestId}`;
  }

  #auditKey(workspaceId: string, runId: string): string {
    return `${this.#prefix}agent:{${workspaceId}}:audit:${runId}`;
  }

  #expiringKey(): string {
    return `${this.#prefix}agent:approvals:expiring`;
  }

  /** Persists a pending request and audits it. Resolves only once Redis has it: post the card after this. */
  async create(input: NewApprovalRequest): Promise<ApprovalRequest> {
    const now = this.#now();
    const request: ApprovalRequest = {
      ...input,
      requestId: randomUUID(),
      hash: approvalHash(input),
      createdAt: now,
      expiresAt: now + this.#ttlSeconds * 1000,
      status: 'pending',
      decidedBy: undefined,
      decidedAt: undefined,
      reason: undefined,
      card: undefined,
    };
    const key = this.#requestKey(request.workspaceId, request.requestId);
    const auditKey = this.#auditKey(request.workspaceId, request.runId);
    const keepSeconds = this.#ttlSeconds + this.#retentionSeconds;
    const entry: AuditEntry = {
      at: now,
      requestId: request.requestId,
      actor: request.requesterId,
      action: 'request',
      result: 'pending',
      detail: `${request.kind}: ${request.summary}`,
    };
    await this.#redis.eval(
      createScript,
      2,
      key,
      auditKey,
      request.requestId,
      JSON.stringify(request),
      request.hash,
      String(request.expiresAt),
      String(keepSeconds),
      JSON.stringify(entry),
    );
    await this.#redis.zadd(this.#expiringKey(), request.expiresAt, `${request.workspaceId}|${request.requestId}`);
    return request;
  }

  /** Records where the request's card was posted, so expiry and decisions can update it. */
  async attachCard(workspaceId: string, requestId: string, card: { channel: string; ts: string }): Promise<void> {
    const key = this.#requestKey(workspaceId, requestId);
    await this.#redis.hset(key, { cardChannel: card.channel, cardTs: card.ts });
  }

  async get(workspaceId: string, requestId: string): Promise<ApprovalRequest | undefined> {
    const fields = await this.#redis.hgetall(this.#requestKey(workspaceId, requestId));
    if (!fields.request) return undefined;
    const stored = JSON.parse(fields.request) as ApprovalRequest;
    return {
      ...stored,
      threadTs: stored.threadTs ?? undefined,
      status: (fields.status as ApprovalStatus | undefined) ?? 'pending',
      decidedBy: fields.decidedBy,
      decidedAt: fields.decidedAt === undefined ? undefined : Number(fields.decidedAt),
      reason: fields.reason as ApprovalRequest['reason'],
      card: fields.cardChannel && fields.cardTs ? { channel: fields.cardChannel, ts: fields.cardTs } : undefined,
    };
  }

  /**
   * Whether `userId` may decide requests in `workspaceId`. Decided on the server, never from the payload. Fails
   * closed: a user-group lookup that fails counts as "not an approver".
   */
  async isApprover(userId: string, workspaceId: string): Promise<boolean> {
    return (await this.#approverCheck(userId, workspaceId)) === 'approver';
  }

  async #approverCheck(userId: string, workspaceId: string): Promise<'approver' | 'not_approver' | 'unverified'> {
    if (this.#policy.approverUserIds.includes(userId)) return 'approver';
    if (!this.#policy.isInApproverGroup) return 'not_approver';
    try {
      return (await this.#policy.isInApproverGroup(userId, workspaceId)) ? 'approver' : 'not_approver';
    } catch {
      return 'unverified';
    }
  }

  /**
   * Decides a request for a clicker. Await it before acking the click. Exactly one call per request returns
   * `decided`; every other returns `already_decided` with who won, or a refusal. All attempts are audited.
   */
  async decide(input: {
    workspaceId: string;
    requestId: string;
    hash: string;
    userId: string;
    decision: Decision;
  }): Promise<DecisionOutcome> {
    const request = await this.get(input.workspaceId, input.requestId);
    if (!request) return { kind: 'not_found' };
    const action = input.decision === 'approved' ? 'approve' : 'reject';
    const check = await this.#approverCheck(input.userId, input.workspaceId);
    if (check !== 'approver') {
      await this.appendAudit(input.workspaceId, request.runId, {
        at: this.#now(),
        requestId: request.requestId,
        actor: input.userId,
        action,
        result: check === 'unverified' ? 'refused_unverified' : 'refused_not_approver',
      });
      return { kind: 'not_authorised', reason: check };
    }
    if (input.decision === 'approved' && input.userId === request.requesterId && !this.#policy.allowSelfApproval) {
      await this.appendAudit(input.workspaceId, request.runId, {
        at: this.#now(),
        requestId: request.requestId,
        actor: input.userId,
        action,
        result: 'refused_self_approval',
      });
      return { kind: 'not_authorised', reason: 'self_approval' };
    }
    const outcome = await this.#compareAndSet(request, {
      expectedHash: input.hash,
      decision: input.decision,
      actor: input.userId,
      reason: 'decision',
      action,
      enforceExpiry: true,
    });
    if (outcome === 'not_found') return { kind: 'not_found' };
    if (outcome === 'hash_mismatch') return { kind: 'hash_mismatch' };
    const current = await this.get(input.workspaceId, input.requestId);
    if (!current) return { kind: 'not_found' };
    if (outcome !== 'already_decided') await this.#forgetExpiry(current);
    return { kind: outcome, request: current };
  }

  /**
   * Rejects a pending request on behalf of the run (a Stop, or the run ending another way). Returns the request
   * when this call won, undefined when it was already decided.
   */
  async cancel(workspaceId: string, requestId: string, actor: string): Promise<ApprovalRequest | undefined> {
    const request = await this.get(workspaceId, requestId);
    if (!request) return undefined;
    const outcome = await this.#compareAndSet(request, {
      expectedHash: '',
      decision: 'rejected',
      actor,
      reason: 'stopped',
      action: 'stop',
      enforceExpiry: false,
    });
    if (outcome !== 'decided') return undefined;
    await this.#forgetExpiry(request);
    return this.get(workspaceId, requestId);
  }

  /**
   * Expires every pending request whose time is up, as rejected, and returns the ones this call expired (so
   * the caller updates their cards and resumes their runs exactly once). Safe on several replicas at once.
   */
  async sweepExpired(limit = 100): Promise<ApprovalRequest[]> {
    const now = this.#now();
    const due = await this.#redis.zrangebyscore(this.#expiringKey(), '-inf', now, 'LIMIT', 0, limit);
    const expired: ApprovalRequest[] = [];
    for (const member of due) {
      const [workspaceId, requestId] = member.split('|');
      if (!workspaceId || !requestId) {
        await this.#redis.zrem(this.#expiringKey(), member);
        continue;
      }
      const request = await this.get(workspaceId, requestId);
      if (request) {
        const outcome = await this.#compareAndSet(request, {
          expectedHash: '',
          decision: 'rejected',
          actor: 'expiry',
          reason: 'expired',
          action: 'expire',
          enforceExpiry: false,
        });
        if (outcome === 'decided') {
          const current = await this.get(workspaceId, requestId);
          if (current) expired.push(current);
        }
      }
      await this.#redis.zrem(this.#expiringKey(), member);
    }
    return expired;
  }

  async appendAudit(workspaceId: string, runId: string, entry: AuditEntry): Promise<void> {
    await this.#redis.eval(
      appendScript,
      1,
      this.#auditKey(workspaceId, runId),
      JSON.stringify(entry),
      String(this.#ttlSeconds + this.#retentionSeconds),
    );
  }

  /** Every request, attempt and decision of a run, oldest first. */
  async auditLog(workspaceId: string, runId: string): Promise<AuditEntry[]> {
    const entries = await this.#redis.lrange(this.#auditKey(workspaceId, runId), 0, -1);
    return entries.map((entry) => JSON.parse(entry) as AuditEntry);
  }

  async #compareAndSet(
    request: ApprovalRequest,
    options: {
      expectedHash: string;
      decision: Decision;
      actor: string;
      reason: NonNullable<ApprovalRequest['reason']>;
      action: string;
      enforceExpiry: boolean;
    },
  ): Promise<'decided' | 'already_decided' | 'expired' | 'not_found' | 'hash_mismatch'> {
    const result = (await this.#redis.eval(
      decideScript,
      2,
      this.#requestKey(request.workspaceId, request.requestId),
      this.#auditKey(request.workspaceId, request.runId),
      options.expectedHash,
      options.decision,
      options.actor,
      String(this.#now()),
      options.reason,
      options.action,
      String(this.#ttlSeconds + this.#retentionSeconds),
      options.enforceExpiry ? '1' : '0',
    )) as string[];
    const outcome = result[0];
    if (
      outcome === 'decided' ||
      outcome === 'already_decided' ||
      outcome === 'expired' ||
      outcome === 'not_found' ||
      outcome === 'hash_mismatch'
    ) {
      return outcome;
    }
    throw new Error(`Unexpected approval script result: ${String(outcome)}`);
  }

  async #forgetExpiry(request: Pick<ApprovalRequest, 'workspaceId' | 'requestId'>): Promise<void> {
    await this.#redis.zrem(this.#expiringKey(), `${request.workspaceId}|${request.requestId}`);
  }
}
