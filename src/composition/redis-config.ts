/**
 * The Redis part of the configuration (config.ts reads it into `redis`): one of three topologies, chosen by which
 * variables are set, never two at once.
 * - One server: `REDIS_URL` (`redis://` or `rediss://`; the default `redis://127.0.0.1:6379`).
 * - Sentinel: `REDIS_SENTINELS=host:port,…` and `REDIS_SENTINEL_NAME` (the master group's name);
 *   `REDIS_SENTINEL_PASSWORD` authenticates to the sentinels. The master's credentials come from `REDIS_URL`'s
 *   user and password or from `REDIS_PASSWORD`; TLS from a `rediss://` `REDIS_URL` or `REDIS_TLS=1`.
 * - Cluster: `REDIS_CLUSTER_NODES=host:port,…` (a few seed nodes; the rest are discovered), credentials and TLS
 *   as for Sentinel.
 * In Sentinel and Cluster mode `REDIS_URL` may only carry credentials, the database and the scheme: its host must be
 * the placeholder `sentinel` or `cluster` (e.g. `rediss://:secret@sentinel/2`), so a URL naming a real server is
 * never silently ignored. create-redis.ts turns this into an ioredis `Redis` or `Cluster`.
 */
import { z } from 'zod';

const emptyAsUnset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

export interface RedisAddress {
  host: string;
  port: number;
}

/** What create-redis.ts needs to connect; `url` stays the one-server URL for tools that take a URL (BullMQ). */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | {
      kind: 'sentinel';
      sentinels: RedisAddress[];
      name: string;
      sentinelPassword: string | undefined;
      username: string | undefined;
      password: string | undefined;
      database: number;
      tls: boolean;
    }
  | {
      kind: 'cluster';
      nodes: RedisAddress[];
      username: string | undefined;
      password: string | undefined;
      tls: boolean;
    };

const addressPattern = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** `host:port,…` → addresses, or the reason it is not such a list. */
export function parseRedisAddresses(
  text: string,
): { ok: true; addresses: RedisAddress[] } | { ok: false; problem: string } {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (parts.length === 0) return { ok: false, problem: 'lists no host:port' };
  const addresses: RedisAddress[] = [];
  for (const part of parts) {
    const match = addressPattern.exec(part);
    const port = Number(match?.[2]);
    if (!match?.[1] || !(port >= 1 && port <= 65535)) {
      return { ok: false, problem: `"${part}" is not host:port with a port between 1 and 65535` };
    }
    addresses.push({ host: match[1].replace(/^\[|\]$/g, ''), port });
  }
  return { ok: true, addresses };
}

const addressList = z.preprocess(
  emptyAsUnset,
  z
    .string()
    .optional()
    .superRefine((text, context) => {
      const parsed = text === undefined ? undefined : parseRedisAddresses(text);
      if (parsed && !parsed.ok) context.addIssue({ code: 'custom', message: parsed.problem });
    }),
);

/** Spread into config.ts's schema. */
export const redisSchemaFields = {
  REDIS_URL: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .optional()
      .superRefine((text, context) => {
        if (text === undefined) return;
        if (!URL.canParse(text)) context.addIssue({ code: 'custom', message: 'is not a URL' });
        else if (!/^rediss?:$/i.test(new URL(text).protocol)) {
          context.addIssue({ code: 'custom', message: 'must start with redis:// or rediss://' });
        }
      }),
  ),
  REDIS_SENTINELS: addressList,
  REDIS_SENTINEL_NAME: z.preprocess(emptyAsUnset, z.string().optional()),
  REDIS_SENTINEL_PASSWORD: z.preprocess(emptyAsUnset, z.string().optional()),
  REDIS_PASSWORD: z.preprocess(emptyAsUnset, z.string().optional()),
  REDIS_TLS: z.preprocess((value) => {
    const unset = emptyAsUnset(value);
    if (unset === undefined) return undefined;
    return ['1', 'true', 'yes', 'on'].includes(String(unset).toLowerCase());
  }, z.boolean().default(false)),
  REDIS_CLUSTER_NODES: addressList,
};

export const redisHints: Record<string, string> = {
  REDIS_URL:
    'a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379 (with Sentinel or Cluster only credentials: rediss://:secret@sentinel)',
  REDIS_SENTINELS: 'the sentinels as host:port separated by commas, e.g. 10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379',
  REDIS_CLUSTER_NODES: 'some of the cluster’s nodes as host:port separated by commas, e.g. 10.0.0.1:6379,10.0.0.2:6379',
};

type RedisRaw = { [name in keyof typeof redisSchemaFields]?: (typeof redisSchemaFields)[name]['_output'] };

const defaultUrl = 'redis://127.0.0.1:6379';

/** Problems no single Redis variable's schema can see: which topology, and what it needs. */
export function redisProblems(raw: RedisRaw): string[] {
  const problems: string[] = [];
  const sentinel = raw.REDIS_SENTINELS !== undefined;
  const cluster = raw.REDIS_CLUSTER_NODES !== undefined;
  if (sentinel && cluster) {
    problems.push(
      'REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set — Redis runs either under Sentinel or as a Cluster: keep the one your deployment uses and unset the other.',
    );
  }
  if (sentinel && !raw.REDIS_SENTINEL_NAME) {
    problems.push(
      'REDIS_SENTINEL_NAME is required with REDIS_SENTINELS — set it to the master group’s name from the sentinels’ configuration (`sentinel monitor <name> …`, often mymaster).',
    );
  }
  if (!sentinel) {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (raw[name] !== undefined) {
        problems.push(
          `${name} is set but REDIS_SENTINELS is not — list the sentinels in REDIS_SENTINELS, or unset ${name}.`,
        );
      }
    }
  }
  const url = raw.REDIS_URL === undefined ? undefined : new URL(raw.REDIS_URL);
  if (url && (sentinel || cluster)) {
    const placeholder = sentinel ? 'sentinel' : 'cluster';
    const variable = sentinel ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES';
    if (url.hostname !== placeholder || url.port !== '') {
      problems.push(
        `REDIS_URL names the server ${url.host} but ${variable} is set — with ${variable} the servers come from there; unset REDIS_URL, or keep only its credentials with the host "${placeholder}" (e.g. rediss://:password@${placeholder}).`,
      );
    }
  }
  if (url?.password && raw.REDIS_PASSWORD) {
    problems.push('REDIS_PASSWORD and REDIS_URL’s password are both set — keep one of them.');
  }
  const database = url ? databaseOf(url) : 0;
  if (Number.isNaN(database)) {
    problems.push(`REDIS_URL's path "${url?.pathname}" is not a database number — use e.g. redis://host:6379/0.`);
  } else if (cluster && database !== 0) {
    problems.push(
      `REDIS_URL selects database ${database} but Redis Cluster has only database 0 — drop the /${database}.`,
    );
  }
  return problems;
}

/**
 * The topology and the one-server URL (call after `redisProblems` found none). `url` is REDIS_URL (with
 * REDIS_PASSWORD and REDIS_TLS applied) in one-server mode; with Sentinel or Cluster only the factory may connect.
 */
export function redisTopology(raw: RedisRaw): { url: string; topology: RedisTopology } {
  const topology = topologyOf(raw);
  return { url: topology.kind === 'single' ? topology.url : (raw.REDIS_URL ?? defaultUrl), topology };
}

function topologyOf(raw: RedisRaw): RedisTopology {
  const url = new URL(raw.REDIS_URL ?? defaultUrl);
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : raw.REDIS_PASSWORD;
  const tls = url.protocol === 'rediss:' || raw.REDIS_TLS === true;
  if (raw.REDIS_SENTINELS) {
    const parsed = parseRedisAddresses(raw.REDIS_SENTINELS);
    return {
      kind: 'sentinel',
      sentinels: parsed.ok ? parsed.addresses : [],
      name: raw.REDIS_SENTINEL_NAME ?? '',
      sentinelPassword: raw.REDIS_SENTINEL_PASSWORD,
      username,
      password,
      database: databaseOf(url) || 0,
      tls,
    };
  }
  if (raw.REDIS_CLUSTER_NODES) {
    const parsed = parseRedisAddresses(raw.REDIS_CLUSTER_NODES);
    return { kind: 'cluster', nodes: parsed.ok ? parsed.addresses : [], username, password, tls };
  }
  if (raw.REDIS_PASSWORD && !url.password) url.password = encodeURIComponent(raw.REDIS_PASSWORD);
  if (raw.REDIS_TLS === true) url.protocol = 'rediss:';
  return { kind: 'single', url: url.toString() };
}

function databaseOf(url: URL): number {
  const path = url.pathname.replace(/^\//, '');
  return path === '' ? 0 : /^\d+$/.test(path) ? Number(path) : Number.NaN;
}
