/**
 * The Redis commands the agent's stores use. Capabilities do not import ioredis (lint rule); an ioredis `Redis`
 * client (built in src/main.ts) satisfies this interface as is.
 */
export interface AgentRedis {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, expiryMode: 'EX', seconds: number): Promise<unknown>;
  hset(key: string, fields: Record<string, string>): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  lrange(key: string, start: number, stop: number): Promise<string[]>;
  zadd(key: string, score: number, member: string): Promise<number | string>;
  zrem(key: string, member: string): Promise<number>;
  zrangebyscore(
    key: string,
    min: number | string,
    max: number | string,
    limit: 'LIMIT',
    offset: number,
    count: number,
  ): Promise<string[]>;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}
