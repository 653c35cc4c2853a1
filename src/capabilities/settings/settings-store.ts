/**
 * `SettingsStore`: each workspace's overrides in Redis — one hash per workspace, `<prefix>{T…}:settings`
 * (fields `json` and `version`), and its audit list `<prefix>{T…}:settings:audit` beside it, hash-tagged so a
 * save (overrides, version and audit entry) is one Lua script in one cluster slot.
 *
 * Guarantees:
 * - Validated on write AND on read with `workspaceSettingsOverridesSchema`: a stored value that is not JSON, is too
 *   large or fails the schema is reported as `problem` with empty overrides (the environment's defaults apply) —
 *   never thrown, so one bad record cannot break a workspace's requests.
 * - A save is a compare-and-set on the version: two admins saving at once cannot silently overwrite each other
 *   (the second learns `stale`). Versions start from the Redis clock (ms) when a workspace has none, so a workspace
 *   purged and set up again never reuses a version a modal opened before the purge still carries.
 * - Every save appends its audit entry in the same script; the list keeps the newest `auditLength` entries.
 * - Every save also appends the workspace's config snapshot (the new settings beside its channel caps) to its config
 *   stream in the same script (`src/llm/spend-record.ts`), so settings are durable like caps: when Redis loses them
 *   the budget restore writes them back from that stream or from a replica's local export (`budget-restore.ts`).
 * - Workspace ids are checked (`T…`/`E…`) before they become part of a key; any Redis failure or a reply slower than
 *   `commandTimeoutMs` is `upstream_unavailable`.
 */
import { DeskhandError, isDeskhandError } from '../../errors.ts';
import { workspaceRecordKeys } from '../../llm/budget-keys.ts';
import { appendConfigLua, configRecordLength } from '../../llm/spend-record.ts';
import { type WorkspaceSettingsOverrides, workspaceSettingsOverridesSchema } from '../../ports/workspace-settings.ts';

/** The Redis commands the store uses (an ioredis client satisfies it; capabilities do not import ioredis). */
export interface SettingsRedis {
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  lrange(key: string, start: number, stop: number): Promise<string[]>;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** What a workspace has stored: the overrides' text as stored (the cache validator), parsed and checked. */
export interface StoredSettings {
  /** The stored JSON text, or null when the workspace changed nothing. */
  raw: string | null;
  overrides: WorkspaceSettingsOverrides;
  /** 0 when nothing was ever saved. */
  version: number;
  /** Why the stored value was ignored (not JSON, too large, or what the schema refused). */
  problem?: string;
}

export type SaveResult = { kind: 'saved'; version: number } | { kind: 'stale'; version: number };

/** Stored overrides larger than this are refused on write and ignored on read (the schema's bounds fit in ~60 kB). */
export const maxStoredSettingsBytes = 64 * 1024;

const tenantIdPattern = /^[TE][A-Z0-9]{1,40}$/;

const saveScript = `${appendConfigLua}
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then return {'stale', current} end
local version = current + 1
if current == 0 then
  local now = redis.call('TIME')
  version = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'version', version)
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
append_config(KEYS[3], KEYS[4], 'settings', cjson.encode({json = ARGV[2], version = version}), ARGV[5])
return {'saved', version}
`;

export class SettingsStore {
  readonly #redis: SettingsRedis;
  readonly #prefix: string;
  readonly #auditLength: number;
  readonly #commandTimeoutMs: number;

  constructor(redis: SettingsRedis, options: { keyPrefix: string; auditLength?: number; commandTimeoutMs?: number }) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix;
    this.#auditLength = options.auditLength ?? 200;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  }

  /** The settings hash of a workspace (exported for tests and the purge's prefix list). */
  key(workspaceId: string): string {
    assertTenantId(workspaceId);
    return `${this.#prefix}{${workspaceId}}:settings`;
  }

  auditKey(workspaceId: string): string {
    return `${this.key(workspaceId)}:audit`;
  }

  /** One round trip: the stored text and version, checked against the schema. */
  async read(workspaceId: string): Promise<StoredSettings> {
    const [raw, version] = await this.#guard(this.#redis.hmget(this.key(workspaceId), 'json', 'version'));
    const stored = { raw: raw ?? null, version: Number(version ?? 0) || 0 };
    if (raw === null || raw === undefined) return { ...stored, overrides: {} };
    const parsed = parseOverrides(raw);
    return 'problem' in parsed ? { ...stored, overrides: {}, problem: parsed.problem } : { ...stored, ...parsed };
  }

  /**
   * Stores `overrides` (validated again here) if the workspace is still at `expectedVersion`, with `auditEntry`
   * appended to its audit list in the same script.
   */
  async save(
    workspaceId: string,
    overrides: WorkspaceSettingsOverrides,
    expectedVersion: number | undefined,
    auditEntry: Record<string, unknown>,
  ): Promise<SaveResult> {
    const checked = workspaceSettingsOverridesSchema.safeParse(overrides);
    if (!checked.success) {
      throw new DeskhandError('invalid_input', `Refused settings for ${workspaceId}: ${checked.error.message}`);
    }
    const json = JSON.stringify(checked.data);
    if (Buffer.byteLength(json) > maxStoredSettingsBytes) {
      throw new DeskhandError('input_too_large', `Settings of ${workspaceId} exceed ${maxStoredSettingsBytes} bytes`);
    }
    const record = workspaceRecordKeys(this.#prefix, workspaceId);
    const reply = (await this.#guard(
      this.#redis.eval(
        saveScript,
        4,
        this.key(workspaceId),
        this.auditKey(workspaceId),
        record.config,
        record.seeded,
        expectedVersion === undefined ? '' : String(expectedVersion),
        json,
        JSON.stringify(auditEntry),
        this.#auditLength,
        configRecordLength,
      ),
    )) as [string, number];
    return { kind: reply[0] === 'saved' ? 'saved' : 'stale', version: Number(reply[1]) };
  }

  /** The newest audit entries first (at most `limit`); entries that are not JSON are skipped. */
  async auditLog(workspaceId: string, limit = 20): Promise<Record<string, unknown>[]> {
    const entries = await this.#guard(this.#redis.lrange(this.auditKey(workspaceId), 0, Math.max(0, limit - 1)));
    return entries.flatMap((entry) => {
      try {
        return [JSON.parse(entry) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  async #guard<T>(operation: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${this.#commandTimeoutMs} ms`)),
        this.#commandTimeoutMs,
      );
    });
    try {
      return await Promise.race([operation, timeout]);
    } catch (error) {
      operation.catch(() => {});
      if (isDeskhandError(error)) throw error;
      throw new DeskhandError('upstream_unavailable', `Settings store unavailable: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
        userMessage: 'I cannot read this workspace’s settings right now. Please try again shortly.',
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Stored text → overrides, or why it is not usable. Bounded: the size is checked before parsing. */
export function parseOverrides(raw: string): { overrides: WorkspaceSettingsOverrides } | { problem: string } {
  if (raw.length > maxStoredSettingsBytes) return { problem: `larger than ${maxStoredSettingsBytes} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { problem: 'not JSON' };
  }
  const checked = workspaceSettingsOverridesSchema.safeParse(value);
  if (!checked.success) {
    const first = checked.error.issues[0];
    return { problem: `${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}` };
  }
  return { overrides: checked.data };
}

function assertTenantId(workspaceId: string): void {
  if (!tenantIdPattern.test(workspaceId)) {
    throw new DeskhandError('invalid_input', `Invalid workspace id for settings: ${JSON.stringify(workspaceId)}`);
  }
}
