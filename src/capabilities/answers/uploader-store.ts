/**
 * Who uploaded each document, per workspace, in one Redis hash (`<prefix>docs:uploader:<workspace>`). The first
 * uploader is kept: a re-upload by someone else does not take the document over.
 */

/** The Redis commands the uploader record uses (an ioredis `Redis` instance fits). */
export interface UploaderRedis {
  hsetnx(key: string, field: string, value: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  hdel(key: string, ...fields: string[]): Promise<number>;
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

  async forget(workspaceId: string, documentId: string): Promise<void> {
    await this.#redis.hdel(`${this.#prefix}${workspaceId}`, documentId);
  }
}
