/**
 * Ticket state in Redis: drafts by id, and the guarantee that one source message yields at most one filed
 * ticket, whatever the clicks, redeliveries or triggers.
 *
 * - A draft is a hash (`status`, `version`, `json`); every change is a compare-and-set in one Lua script.
 * - The source claim (`source:<channel>:<ts>` → draft id) is set once by the first draft that files; another
 *   draft for the same message can never file. Discarding an unfiled draft releases its claim.
 * - Filing holds a lease (SET NX PX with a token), so concurrent clicks do not deliver concurrently; a worker
 *   that dies leaves a lease that expires, and the next click resumes.
 * - Deliveries are recorded per sink in a hash (HSETNX), so each sink receives a ticket at most once.
 *
 * Every key of a workspace shares the hash tag `{workspaceId}`: multi-key scripts stay in one cluster slot.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { TicketFlag } from './grounding.ts';
import type { Ticket } from './ticket-schema.ts';

/** The Redis calls this store needs; an ioredis client satisfies it (built in src/main.ts). */
export interface TicketRedis {
  eval(script: string, numberOfKeys: number, ...keysAndArguments: (string | number)[]): Promise<unknown>;
}

export type TicketDraftStatus = 'draft' | 'filed' | 'discarded';

export interface TicketDraft {
  /** Also the ticket id, the webhook `Idempotency-Key` and the default reference. */
  id: string;
  workspaceId: string;
  /** The source message. */
  channelId: string;
  messageTs: string;
  /** Who triggered the extraction. */
  requestedBy: string;
  createdAt: string;
  ticket: Ticket;
  flags: TicketFlag[];
  /** `rules` when extracted without the model. */
  mode: 'model' | 'rules';
  /**
   * The plain customer text the ticket was extracted from (cut to 2,000 characters), the ts and zone its relative
   * dates refer to: what a correction teaches (learning from corrections). Absent on drafts made before.
   */
  sourceText?: string;
  textTs?: string;
  timeZone?: string;
  /** Where the card was posted, once it was. */
  card?: { channel: string; ts: string };
  /** Thread the card belongs to. */
  threadTs?: string;
  /** Set when filed. */
  filed?: { by: string; at: string; reference: string; deliveries: Record<string, SinkDeliveryRecord> };
  editedBy?: string;
}

export interface StoredTicketDraft extends TicketDraft {
  status: TicketDraftStatus;
  version: number;
}

export interface SinkDeliveryRecord {
  sink: string;
  at: string;
  reference?: string;
  /** Link to the delivered ticket (e.g. the triage message permalink), when the sink has one. */
  link?: string;
}

export type DraftChange =
  | { ok: true; draft: StoredTicketDraft }
  | { ok: false; reason: 'not_found' | 'version_conflict' | 'filing' | 'delivered' | TicketDraftStatus };

/** A draft's own keys: the draft hash, its filing lease and its delivery records. */
interface DraftKeys {
  draft: string;
  lease: string;
  deliveries: string;
}

export type SourceClaim = { claimed: true } | { claimed: false; holder: string };

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A short, unguessable ticket id such as `DH-7K2M9QXA4P`. */
export function newTicketId(): string {
  return ticketIdFromBytes(randomBytes(10));
}

/**
 * The ticket id for a filing keyed by `idempotencyKey` (the agent's file_ticket call): the same shape as a card's
 * id, and the same id every time the same call is re-run, so sinks that dedupe on it see one ticket.
 */
export function ticketIdFor(idempotencyKey: string): string {
  return ticketIdFromBytes(createHash('sha256').update(idempotencyKey).digest().subarray(0, 10));
}

function ticketIdFromBytes(bytes: Uint8Array): string {
  let id = '';
  for (const byte of bytes) id += crockford[byte % 32];
  return `DH-${id}`;
}

// KEYS: draft[, requester's recent drafts]. ARGV: json, ttl ms[, created at ms, draft id, index cap, index ttl ms].
const createScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'draft', 'version', '1', 'json', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if #KEYS == 2 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return 1`;

// KEYS: a person's recent drafts. ARGV: how many. Returns { total, ids newest first }.
const recentScript = `return { redis.call('ZCARD', KEYS[1]), redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1) }`;

/** How many of a person's drafts the recent list keeps, and for how long after their last one. */
const recentDraftsCap = 50;
const recentDraftsTtlMs = 90 * 86_400_000;
const userIdPattern = /^[UW][A-Z0-9]{2,20}$/;

const getScript = `return redis.call('HMGET', KEYS[1], 'status', 'version', 'json')`;

// How an edit or a discard starts (KEYS: draft, lease, deliveries): only an unfiled draft that nobody is filing and
// no sink has received may change; `version` is its current version.
const unfiledDraftCheck = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'draft' then return status end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'filing' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'delivered' end
local version = redis.call('HGET', KEYS[1], 'version')`;

// KEYS: draft, lease, deliveries. ARGV: expected version ('' = any), new json, ttl ms.
const updateScript = `${unfiledDraftCheck}
if ARGV[1] ~= '' and ARGV[1] ~= version then return 'version_conflict' end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'version', tostring(tonumber(version) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 'ok'`;

// KEYS: draft, lease, deliveries, source claim. ARGV: new json, draft id.
const discardScript = `${unfiledDraftCheck}
redis.call('HSET', KEYS[1], 'status', 'discarded', 'json', ARGV[1], 'version', tostring(tonumber(version) + 1))
if redis.call('GET', KEYS[4]) == ARGV[2] then redis.call('DEL', KEYS[4]) end
return 'ok'`;

// KEYS: draft, lease. ARGV: lease token, new json.
const markFiledScript = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if status ~= 'draft' then return status end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'filing' end
local version = redis.call('HGET', KEYS[1], 'version')
redis.call('HSET', KEYS[1], 'status', 'filed', 'json', ARGV[2], 'version', tostring(tonumber(version) + 1))
redis.call('PERSIST', KEYS[1])
return 'ok'`;

// KEYS: source claim. ARGV: draft id, ttl ms.
const claimScript = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return holder`;

const acquireLeaseScript = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

const releaseLeaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// KEYS: deliveries. ARGV: sink, json.
const recordDeliveryScript = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('PERSIST', KEYS[1])
  return ARGV[2]
end
return redis.call('HGET', KEYS[1], ARGV[1])`;

const getDeliveriesScript = `return redis.call('HGETALL', KEYS[1])`;

export interface TicketStoreOptions {
  /** Global key prefix (`REDIS_KEY_PREFIX`), e.g. `dh:`. */
  keyPrefix: string;
  /** How long an unfiled draft lives. Default 14 days. */
  draftTtlMs?: number;
  /** How long a source message stays claimed. Default 400 days (longer than anyone re-files a message). */
  claimTtlMs?: number;
}

/** Drafts, source claims, filing leases and delivery records. */
export class TicketStore {
  readonly #redis: TicketRedis;
  readonly #prefix: string;
  readonly #draftTtlMs: number;
  readonly #claimTtlMs: number;

  constructor(redis: TicketRedis, options: TicketStoreOptions) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix;
    this.#draftTtlMs = options.draftTtlMs ?? 14 * 86_400_000;
    this.#claimTtlMs = options.claimTtlMs ?? 400 * 86_400_000;
  }

  #key(workspaceId: string, rest: string): string {
    return `${this.#prefix}ticket:{${workspaceId}}:${rest}`;
  }

  #keys(workspaceId: string, draftId: string): DraftKeys {
    return {
      draft: this.#key(workspaceId, `draft:${draftId}`),
      lease: this.#key(workspaceId, `filing:${draftId}`),
      deliveries: this.#key(workspaceId, `deliveries:${draftId}`),
    };
  }

  sourceKey(workspaceId: string, channelId: string, messageTs: string): string {
    return this.#key(workspaceId, `source:${channelId}:${messageTs}`);
  }

  #recentKey(workspaceId: string, userId: string): string {
    return this.#key(workspaceId, `user:${userId}:recent`);
  }

  /**
   * Stores a new draft and, in the same script, lists it among its requester's recent drafts (the last 50, kept
   * 90 days; what the App Home shows). Returns false when the id already exists (never overwrites).
   */
  async create(draft: TicketDraft): Promise<boolean> {
    const keys = this.#keys(draft.workspaceId, draft.id);
    const json = JSON.stringify(draft);
    const created = userIdPattern.test(draft.requestedBy)
      ? await this.#redis.eval(
          createScript,
          2,
          keys.draft,
          this.#recentKey(draft.workspaceId, draft.requestedBy),
          json,
          this.#draftTtlMs,
          Date.parse(draft.createdAt) || Date.now(),
          draft.id,
          recentDraftsCap,
          recentDraftsTtlMs,
        )
      : await this.#redis.eval(createScript, 1, keys.draft, json, this.#draftTtlMs);
    return Number(created) === 1;
  }

  /**
   * A person's most recent drafts in a workspace, newest first: at most `limit` (≤ 50), with how many are listed.
   * Drafts that expired unfiled are skipped.
   */
  async recentDrafts(
    workspaceId: string,
    userId: string,
    limit: number,
  ): Promise<{ drafts: StoredTicketDraft[]; total: number }> {
    if (!userIdPattern.test(userId)) return { drafts: [], total: 0 };
    const count = Math.max(1, Math.min(recentDraftsCap, Math.floor(limit)));
    const [total, ids] = (await this.#redis.eval(recentScript, 1, this.#recentKey(workspaceId, userId), count)) as [
      number,
      string[],
    ];
    const drafts = await Promise.all(ids.map((id) => this.get(workspaceId, id)));
    return { drafts: drafts.filter((draft) => draft !== undefined), total: Number(total) };
  }

  async get(workspaceId: string, draftId: string): Promise<StoredTicketDraft | undefined> {
    const keys = this.#keys(workspaceId, draftId);
    const [status, version, json] = (await this.#redis.eval(getScript, 1, keys.draft)) as (string | null)[];
    if (!status || !version || !json) return undefined;
    return { ...(JSON.parse(json) as TicketDraft), status: status as TicketDraftStatus, version: Number(version) };
  }

  /**
   * Replaces an unfiled draft's content (Edit, card location). With `expectedVersion`, fails instead of
   * overwriting a concurrent change. Refused while filing or once any sink has the ticket.
   */
  async update(
    workspaceId: string,
    draftId: string,
    change: (draft: TicketDraft) => TicketDraft,
    expectedVersion?: number,
  ): Promise<DraftChange> {
    return this.#change(workspaceId, draftId, 'draft', change, (keys, next, version) => [
      updateScript,
      3,
      keys.draft,
      keys.lease,
      keys.deliveries,
      String(expectedVersion ?? version),
      JSON.stringify(next),
      this.#draftTtlMs,
    ]);
  }

  /** Discards an unfiled draft and releases its source claim. Refused while filing or after any delivery. */
  async discard(workspaceId: string, draftId: string, by: string): Promise<DraftChange> {
    const change = (content: TicketDraft): TicketDraft => ({ ...content, editedBy: by });
    return this.#change(workspaceId, draftId, 'discarded', change, (keys, next) => [
      discardScript,
      4,
      keys.draft,
      keys.lease,
      keys.deliveries,
      this.sourceKey(workspaceId, next.channelId, next.messageTs),
      JSON.stringify(next),
      draftId,
    ]);
  }

  /**
   * Claims the source message for a draft (compare-and-set). Idempotent for the same draft; another draft
   * gets `{ claimed: false, holder }`.
   */
  async claimSource(draft: Pick<TicketDraft, 'id' | 'workspaceId' | 'channelId' | 'messageTs'>): Promise<SourceClaim> {
    const holder = String(
      await this.#redis.eval(
        claimScript,
        1,
        this.sourceKey(draft.workspaceId, draft.channelId, draft.messageTs),
        draft.id,
        this.#claimTtlMs,
      ),
    );
    return holder === draft.id ? { claimed: true } : { claimed: false, holder };
  }

  /** A filing lease for a draft: a token when acquired, undefined when someone else is filing it. */
  async acquireFilingLease(workspaceId: string, draftId: string, leaseMs: number): Promise<string | undefined> {
    const token = randomBytes(12).toString('hex');
    const acquired = await this.#redis.eval(
      acquireLeaseScript,
      1,
      this.#keys(workspaceId, draftId).lease,
      token,
      leaseMs,
    );
    return Number(acquired) === 1 ? token : undefined;
  }

  async releaseFilingLease(workspaceId: string, draftId: string, token: string): Promise<void> {
    await this.#redis.eval(releaseLeaseScript, 1, this.#keys(workspaceId, draftId).lease, token);
  }

  /** Deliveries already made for a draft, by sink name. */
  async deliveries(workspaceId: string, draftId: string): Promise<Record<string, SinkDeliveryRecord>> {
    const flat = (await this.#redis.eval(
      getDeliveriesScript,
      1,
      this.#keys(workspaceId, draftId).deliveries,
    )) as string[];
    const records: Record<string, SinkDeliveryRecord> = {};
    for (let index = 0; index + 1 < flat.length; index += 2) {
      records[flat[index] as string] = JSON.parse(flat[index + 1] as string) as SinkDeliveryRecord;
    }
    return records;
  }

  /** Records a delivery once; returns the record that is stored (the earlier one if it already existed). */
  async recordDelivery(workspaceId: string, draftId: string, record: SinkDeliveryRecord): Promise<SinkDeliveryRecord> {
    const stored = await this.#redis.eval(
      recordDeliveryScript,
      1,
      this.#keys(workspaceId, draftId).deliveries,
      record.sink,
      JSON.stringify(record),
    );
    return JSON.parse(String(stored)) as SinkDeliveryRecord;
  }

  /** Marks a draft filed, only while holding its lease. */
  async markFiled(
    workspaceId: string,
    draftId: string,
    leaseToken: string,
    filed: NonNullable<TicketDraft['filed']>,
  ): Promise<DraftChange> {
    const change = (content: TicketDraft): TicketDraft => ({ ...content, filed });
    return this.#change(workspaceId, draftId, 'filed', change, (keys, next) => [
      markFiledScript,
      2,
      keys.draft,
      keys.lease,
      leaseToken,
      JSON.stringify(next),
    ]);
  }

  /**
   * One compare-and-set change of a draft: reads it, builds its next content, runs the script `call` names (which
   * re-checks status, lease and version in Redis); the draft as stored with `status`, or why it was refused.
   */
  async #change(
    workspaceId: string,
    draftId: string,
    status: TicketDraftStatus,
    change: (draft: TicketDraft) => TicketDraft,
    call: (keys: DraftKeys, next: TicketDraft, version: number) => [string, number, ...(string | number)[]],
  ): Promise<DraftChange> {
    const current = await this.get(workspaceId, draftId);
    if (!current) return { ok: false, reason: 'not_found' };
    const { status: _status, version, ...content } = current;
    const next = change(content);
    const [script, numberOfKeys, ...keysAndArguments] = call(this.#keys(workspaceId, draftId), next, version);
    const result = String(await this.#redis.eval(script, numberOfKeys, ...keysAndArguments));
    if (result !== 'ok') return { ok: false, reason: result as Exclude<DraftChange, { ok: true }>['reason'] };
    return { ok: true, draft: { ...next, status, version: version + 1 } };
  }

  /** Every key this store may have written for a draft (tests clean up with it). */
  keysOf(draft: Pick<TicketDraft, 'id' | 'workspaceId' | 'channelId' | 'messageTs'>): string[] {
    const keys = this.#keys(draft.workspaceId, draft.id);
    return [
      keys.draft,
      keys.lease,
      keys.deliveries,
      this.sourceKey(draft.workspaceId, draft.channelId, draft.messageTs),
    ];
  }
}
