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
 *
 * This file keeps the store; the parts live beside it: `approval-request.ts` (the request, decision, outcome and
 * audit types), `approval-hash.ts` (the hash a request is bound to, the button value), `approval-scripts.ts` (the
 * Lua scripts and their KEYS/ARGV layout), `approver-check.ts` (who may decide, the `ApprovalPolicy`).
 */
import { randomUUID } from 'node:crypto';
import type { AgentRedis } from './agent-redis.ts';
import { approvalHash } from './approval-hash.ts';
import type {
  ApprovalRequest,
  ApprovalStatus,
  AuditEntry,
  Decision,
  DecisionOutcome,
  NewApprovalRequest,
} from './approval-request.ts';
import { appendAuditScript, createRequestScript, decideScript } from './approval-scripts.ts';
import { type ApprovalPolicy, approverCheck } from './approver-check.ts';

export interface ApprovalStoreOptions {
  redis: AgentRedis;
  keyPrefix: string;
  ttlSeconds: number;
  policy: ApprovalPolicy;
  /** How long decided requests and audit logs are kept. Default 30 days. */
  retentionSeconds?: number;
  now?: () => number;
}

// KEYS: a workspace's pending index. ARGV: now (ms), how many. Drops expired entries; returns { total, ids }.
const pendingScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return { redis.call('ZCARD', KEYS[1]), redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1) }`;

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

  /** The workspace's pending requests by expiry (the App Home's list); entries are dropped once decided. */
  #pendingKey(workspaceId: string): string {
    return `${this.#prefix}agent:{${workspaceId}}:approvals:pending`;
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
      createRequestScript,
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
    await this.#redis.zadd(this.#pendingKey(request.workspaceId), request.expiresAt, request.requestId);
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
    return (await approverCheck(this.#policy, userId, workspaceId)) === 'approver';
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
    const check = await approverCheck(this.#policy, input.userId, input.workspaceId);
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
      appendAuditScript,
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
    await this.#redis.zrem(this.#pendingKey(request.workspaceId), request.requestId);
  }

  /**
   * A workspace's requests still pending, soonest to expire first: at most `limit` (≤ 20), with how many are
   * listed. Only this workspace's index is read; expired or decided entries are dropped from it on the way.
   */
  async pendingRequests(workspaceId: string, limit: number): Promise<{ requests: ApprovalRequest[]; total: number }> {
    const count = Math.max(1, Math.min(20, Math.floor(limit)));
    const [total, ids] = (await this.#redis.eval(
      pendingScript,
      1,
      this.#pendingKey(workspaceId),
      this.#now(),
      count * 2,
    )) as [number, string[]];
    const requests: ApprovalRequest[] = [];
    let stale = 0;
    for (const requestId of ids) {
      const request = await this.get(workspaceId, requestId);
      if (request?.status === 'pending') {
        if (requests.length < count) requests.push(request);
        continue;
      }
      stale += 1;
      await this.#redis.zrem(this.#pendingKey(workspaceId), requestId);
    }
    return { requests, total: Math.max(requests.length, Number(total) - stale) };
  }
}
