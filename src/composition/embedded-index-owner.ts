/**
 * One replica per Redis for the embedded index: the embedded index (`QDRANT_URL` unset) lives in one process's
 * memory and files (`DATA_DIR/index`), and its file lock (`index.lock`, adapters/index-directory-lock.ts) only
 * tells processes of one host apart — replicas on two hosts sharing a volume take each other's lock as stale, and
 * replicas with their own `DATA_DIR` each answer from a different index. So the replica that uses the embedded
 * index registers itself in Redis, under `<prefix>embedded-index:owner`, before it opens the index; a second replica
 * against the same Redis (and key prefix) is refused at start with a message saying several replicas need Qdrant.
 *
 * Guarantees and limits:
 * - the registration (host, pid, resolved `DATA_DIR`, a random id) is written with `SET NX PX ttlMs` and renewed
 *   every `intervalMs` by a script that extends it only while it is still this replica's; released on a graceful
 *   stop (compare-and-delete), it expires `ttlMs` (15 s by default) after a replica died;
 * - a registration left by a dead process of this same host (its pid is gone, or is this process's own pid: a
 *   restarted container keeps its hostname and its pid) is taken over at once, so a crash-and-restart is not refused;
 * - a registration lost in Redis (restart without persistence, failover before replication) is written again by the
 *   next renewal; if another replica registered in that gap both now run, and each renewal logs it as an error
 *   (code `configuration`) until one of them stops. The check is a start-up guard, not a lock on every write.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { RedisClient } from '../adapters/redis-client.ts';
import { DeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

/** Who uses the embedded index against this Redis. */
export interface EmbeddedIndexOwner {
  id: string;
  host: string;
  pid: number;
  dataDir: string;
  /** When it registered (ISO 8601). */
  since: string;
}

export interface EmbeddedIndexOwnerOptions {
  redis: RedisClient;
  keyPrefix: string;
  dataDir: string;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** How long a registration lasts without renewal (default 15 s). */
  ttlMs?: number;
  /** How often it is renewed (default 3 s). */
  intervalMs?: number;
  /** This replica's host and pid (default: `os.hostname()`, `process.pid`; tests simulate other hosts). */
  host?: string;
  pid?: number;
  /** Whether a pid of this host is alive (default: `process.kill(pid, 0)`). */
  processAlive?: (pid: number) => boolean;
}

/** This replica's registration: renewed until `release`. */
export interface EmbeddedIndexRegistration {
  readonly owner: EmbeddedIndexOwner;
  readonly key: string;
  /** Stops renewing and deletes the registration if it is still this replica's. */
  release(): Promise<void>;
}

export class EmbeddedIndexInUseError extends DeskhandError {
  readonly holder: EmbeddedIndexOwner | undefined;
  constructor(key: string, holder: EmbeddedIndexOwner | undefined, expiresInMs: number) {
    const who = holder
      ? `host ${holder.host}, pid ${holder.pid}, DATA_DIR ${holder.dataDir}, since ${holder.since}`
      : `an unreadable registration in Redis key ${key}`;
    const message =
      `Another Deskhand replica already uses the embedded index with this Redis (${who}). The embedded index ` +
      'takes a single replica: a deployment with several replicas needs Qdrant — set QDRANT_URL (and ' +
      'QDRANT_API_KEY if needed) on every replica. If that replica has stopped, its registration expires within ' +
      `${Math.ceil(Math.max(expiresInMs, 0) / 1000)} s; start this one again then.`;
    super('configuration', message, { userMessage: message, details: { key, holder, expiresInMs } });
    this.holder = holder;
  }
}

export function embeddedIndexOwnerKey(keyPrefix: string): string {
  return `${keyPrefix}embedded-index:owner`;
}

/** KEYS[1] registration; ARGV[1] expected value, ARGV[2] new value, ARGV[3] TTL ms. 1 when replaced. */
const takeOverLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

/** KEYS[1] registration; ARGV[1] our value, ARGV[2] TTL ms. 1 renewed, 2 written again (it was lost), 0 not ours. */
const renewLua = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0`;

/** KEYS[1] registration; ARGV[1] our value. Deletes it only while it is ours. */
const releaseLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

type Script = (key: string, ...args: string[]) => Promise<unknown>;

function scripts(redis: RedisClient): { takeOver: Script; renew: Script; release: Script } {
  const names = {
    takeOver: ['dhEmbeddedIndexTakeOver', takeOverLua],
    renew: ['dhEmbeddedIndexRenew', renewLua],
    release: ['dhEmbeddedIndexRelease', releaseLua],
  } as const;
  const call = redis as unknown as Record<string, Script>;
  const command = ([name, lua]: readonly [string, string]): Script => {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
    const method = call[name];
    if (!method) throw new Error(`Redis script ${name} is not defined`);
    return method.bind(redis);
  };
  return { takeOver: command(names.takeOver), renew: command(names.renew), release: command(names.release) };
}

function parseOwner(value: string): EmbeddedIndexOwner | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<EmbeddedIndexOwner>;
    if (typeof parsed.host !== 'string' || typeof parsed.pid !== 'number' || typeof parsed.id !== 'string') {
      return undefined;
    }
    return {
      id: parsed.id,
      host: parsed.host,
      pid: parsed.pid,
      dataDir: String(parsed.dataDir),
      since: String(parsed.since),
    };
  } catch {
    return undefined;
  }
}

function defaultProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user — still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Registers this replica as the embedded index's user (see the header), then renews the registration in the
 * background. Throws `EmbeddedIndexInUseError` when another live replica holds it; Redis errors propagate.
 */
export async function registerEmbeddedIndexOwner(
  options: EmbeddedIndexOwnerOptions,
): Promise<EmbeddedIndexRegistration> {
  const { redis, logger } = options;
  const ttlMs = options.ttlMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 3_000;
  const host = options.host ?? hostname();
  const pid = options.pid ?? process.pid;
  const processAlive = options.processAlive ?? defaultProcessAlive;
  const key = embeddedIndexOwnerKey(options.keyPrefix);
  const owner: EmbeddedIndexOwner = {
    id: randomUUID(),
    host,
    pid,
    dataDir: resolve(options.dataDir),
    since: new Date().toISOString(),
  };
  const value = JSON.stringify(owner);
  const script = scripts(redis);

  let registered = false;
  for (let attempt = 0; attempt < 3 && !registered; attempt += 1) {
    if ((await redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK') {
      registered = true;
      break;
    }
    const current = await redis.get(key);
    if (current === null) continue; // expired or released in between: try again
    const holder = parseOwner(current);
    const stale = holder !== undefined && holder.host === host && (holder.pid === pid || !processAlive(holder.pid));
    if (!stale) throw new EmbeddedIndexInUseError(key, holder, await redis.pttl(key));
    if ((await script.takeOver(key, current, value, String(ttlMs))) === 1) {
      registered = true;
      logger.warn(
        { key, previous: holder },
        'took over the embedded index registration of a dead process on this host',
      );
    }
  }
  if (!registered) {
    const current = await redis.get(key);
    throw new EmbeddedIndexInUseError(key, current ? parseOwner(current) : undefined, await redis.pttl(key));
  }
  logger.info({ key, owner, ttlMs }, 'registered as the one replica using the embedded index');

  let conflicting = false;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    try {
      const outcome = await script.renew(key, value, String(ttlMs));
      if (outcome === 0) {
        if (!conflicting) {
          const current = await redis.get(key);
          logger.error(
            { code: 'configuration', key, holder: current ? parseOwner(current) : undefined },
            'another replica registered the embedded index while this registration was lost (Redis restarted or ' +
              'failed over): two replicas now use embedded indexes; stop one, or move to Qdrant (QDRANT_URL)',
          );
        }
        conflicting = true;
        return;
      }
      conflicting = false;
      if (outcome === 2) logger.warn({ key }, 'the embedded index registration was missing in Redis; written again');
    } catch (error) {
      logger.warn({ err: error, key, code: 'upstream_unavailable' }, 'could not renew the embedded index registration');
    }
  };
  const timer = setInterval(() => {
    renewing = renew();
  }, intervalMs);
  timer.unref();

  return {
    owner,
    key,
    async release() {
      clearInterval(timer);
      // A renewal still running could write the registration again after the delete.
      await renewing;
      await script.release(key, value);
    },
  };
}
