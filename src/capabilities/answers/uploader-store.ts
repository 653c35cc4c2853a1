/**
 * Who uploaded each document, per workspace, in one Redis hash (`<prefix>docs:uploader:<workspace>`). The first
 * uploader is kept: a re-upload by someone else does not take the document over. The hash's fields are also the
 * workspace's documents added in Slack, which the App Home lists (`documentIds`, bounded).
 */

/** The Redis commands the uploader record uses (an ioredis `Redis` instance fits). */
export interface UploaderRedis {
  hsetnx(key: string, field: string, value: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hdel(key: string, ...fields: string[]): Promise<number>;
  hlen(key: string): Promise<number>;
  hscan(key: string, cursor: string, countToken: 'COUNT', count: number): Promise<[string, string[]]>;
}

/** Who uploaded each document (per workspace), so `/docs forget` can authorise the uploader. */
export class UploaderStore {
  readonly #redis: UploaderRedis;
  readonly #prefix: string;

  constructor(redis: UploaderRedis, options: { keyPrefix: string }) {
    this.#redis = redis;
    this.#prefix = `${options.keyPrefix}docs:uploader:`;
  }

  /** Records the first uploader of a document; a later re-upload by someone else does not take it over. */
  async recordFirst(workspaceId: string, documentId: string, userId: string): Promise<void> {
    await this.#redis.hsetnx(`${this.#prefix}${workspaceId}`, documentId, userId);
  }

  async uploaderOf(workspaceId: string, documentId: string): Promise<string | undefined> {
    return (await this.#redis.hget(`${this.#prefix}${workspaceId}`, documentId)) ?? undefined;
  }

  /**
   * Up to `limit` (≤ 100) of the workspace's documents added in Slack, in no particular order, and how many there
   * are. At most 10 HSCAN round trips, whatever the hash's size.
   */
  async documentIds(workspaceId: string, limit: number): Promise<{ documentIds: string[]; total: number }> {
    const key = `${this.#prefix}${workspaceId}`;
    const wanted = Math.max(1, Math.min(100, Math.floor(limit)));
    const found = new Set<string>();
    let cursor = '0';
    for (let round = 0; round < 10 && found.size < wanted; round += 1) {
      const [next, flat] = await this.#redis.hscan(key, cursor, 'COUNT', wanted);
      for (let index = 0; index < flat.length && found.size < wanted; index += 2) found.add(flat[index] as string);
      cursor = next;
      if (cursor === '0') break;
    }
    return { documentIds: [...found], total: Math.max(found.size, await this.#redis.hlen(key)) };
  }

  async forget(workspaceId: string, documentId: string): Promise<void> {
    await this.#redis.hdel(`${this.#prefix}${workspaceId}`, documentId);
  }
}
