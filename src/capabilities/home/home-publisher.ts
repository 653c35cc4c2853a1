/**
 * Publishes a person's App Home (`views.publish`) when they open it and after changes they would see (a document
 * forgotten or an approval decided from the Home, settings saved), within Slack's limits.
 *
 * Guarantees:
 * - At most one publish per person per `minIntervalMs` (default 3 s) across threads and replicas: a Redis gate
 *   (`SET NX PX`) is taken before each publish. A request that finds the gate held is not dropped: one trailing
 *   publish per person is scheduled for when the gate frees, and further requests in the meantime join it (a burst
 *   of clicks or opens becomes at most two publishes). The trailing publish reads the data afresh, so it shows the
 *   latest change; a notice given with any joined request is kept (the latest wins).
 * - Admin sections are gathered and shown only when the workspace's settings name the person an admin; when that
 *   cannot be read the person is treated as a non-admin (fail closed).
 * - A section whose reader fails is shown as "could not be loaded"; the rest of the Home is still published. A
 *   failed publish is logged with its code and never thrown: the Home is refreshed again on the next open.
 * - Bounded: each reader is asked for at most its section's limit; at most `maxPending` trailing publishes wait
 *   (beyond that a request is logged and dropped — the person's next open publishes).
 */
import { toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { HomeData, HomeReaders, Loaded } from './home-data.ts';
import { buildHomeView, type HomeView, homeListLimits } from './home-view.ts';

/** The Redis commands the gate uses (an ioredis client satisfies it). */
export interface HomeGateRedis {
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number, condition: 'NX'): Promise<'OK' | null>;
  pttl(key: string): Promise<number>;
}

export interface HomePublisherOptions {
  readers: HomeReaders;
  /** Sends the view with the workspace's token (`Messenger.publishHome` inside the workspace's scope). */
  publish: (workspaceId: string, userId: string, view: HomeView) => Promise<void>;
  redis: HomeGateRedis;
  keyPrefix: string;
  logger: Logger;
  modelConfigured: boolean;
  ticketReaction: string;
  /** Least time between two publishes of one person's Home (default 3,000 ms). */
  minIntervalMs?: number;
  /** Most trailing publishes waiting at once (default 10,000). */
  maxPending?: number;
}

const userIdPattern = /^[UW][A-Z0-9]{2,20}$/;
const workspaceIdPattern = /^[TE][A-Z0-9]{1,40}$/;

export class HomePublisher {
  readonly #options: HomePublisherOptions;
  readonly #minIntervalMs: number;
  readonly #pending = new Map<string, { timer: NodeJS.Timeout; notice: string | undefined }>();
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(options: HomePublisherOptions) {
    this.#options = options;
    this.#minIntervalMs = options.minIntervalMs ?? 3_000;
  }

  /**
   * Publishes `userId`'s Home now, or joins the trailing publish when one was sent less than `minIntervalMs` ago.
   * Resolves once the publish (if any now) has been sent or has failed; never rejects.
   */
  async refresh(workspaceId: string, userId: string, options: { notice?: string } = {}): Promise<void> {
    const logger = this.#options.logger.child({ component: 'app-home', workspaceId, userId });
    if (!workspaceIdPattern.test(workspaceId) || !userIdPattern.test(userId)) {
      logger.warn({ code: 'invalid_input' }, 'app home not published: not a Slack workspace or user id');
      return;
    }
    if (this.#closed) return;
    const key = `${workspaceId}:${userId}`;
    const waiting = this.#pending.get(key);
    if (waiting) {
      if (options.notice !== undefined) waiting.notice = options.notice;
      return;
    }
    try {
      const gate = `${this.#options.keyPrefix}{${workspaceId}}:home:gate:${userId}`;
      const taken = await this.#options.redis.set(gate, '1', 'PX', this.#minIntervalMs, 'NX');
      if (taken === 'OK') {
        await this.#publishNow(workspaceId, userId, options.notice, logger);
        return;
      }
      if (this.#pending.has(key)) return;
      if (this.#pending.size >= (this.#options.maxPending ?? 10_000)) {
        logger.warn({ code: 'over_capacity' }, 'app home refresh dropped: too many waiting');
        return;
      }
      const waitMs = Math.max(50, Math.min(this.#minIntervalMs, await this.#options.redis.pttl(gate)));
      const timer = setTimeout(() => {
        const entry = this.#pending.get(key);
        this.#pending.delete(key);
        this.#track(this.refresh(workspaceId, userId, entry?.notice === undefined ? {} : { notice: entry.notice }));
      }, waitMs);
      timer.unref();
      this.#pending.set(key, { timer, notice: options.notice });
    } catch (error) {
      const coded = toDeskhandError(error);
      logger.warn({ err: error, code: coded.code }, 'app home not published');
    }
  }

  /** Stops the trailing publishes and waits for those already running. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
    await Promise.allSettled([...this.#running]);
  }

  #track(promise: Promise<void>): void {
    this.#running.add(promise);
    void promise.finally(() => this.#running.delete(promise));
  }

  async #publishNow(workspaceId: string, userId: string, notice: string | undefined, logger: Logger): Promise<void> {
    const started = performance.now();
    const data = await gatherHomeData(this.#options, workspaceId, userId, logger);
    const view = buildHomeView({ ...data, ...(notice === undefined ? {} : { notice }) });
    try {
      await this.#options.publish(workspaceId, userId, view);
      logger.info(
        {
          code: 'ok',
          admin: data.admin !== undefined,
          blocks: view.blocks.length,
          durationMs: Math.round(performance.now() - started),
        },
        'app home published',
      );
    } catch (error) {
      const coded = toDeskhandError(error);
      logger.warn({ err: error, code: coded.code }, 'app home publish failed');
    }
  }
}

/** Reads every section (in parallel); a failing reader leaves its section "could not be loaded". */
export async function gatherHomeData(
  options: Pick<HomePublisherOptions, 'readers' | 'modelConfigured' | 'ticketReaction'>,
  workspaceId: string,
  userId: string,
  logger: Logger,
): Promise<HomeData> {
  const { readers } = options;
  const load = async <T>(section: string, read: () => Promise<T>): Promise<Loaded<T>> => {
    try {
      return { ok: true, value: await read() };
    } catch (error) {
      logger.warn({ err: error, code: toDeskhandError(error).code, section }, 'app home section could not be read');
      return { ok: false };
    }
  };
  const admin = await readers.isAdmin(workspaceId, userId).catch((error: unknown) => {
    logger.warn(
      { err: error, code: 'upstream_unavailable' },
      'admin check failed; showing the Home without admin sections',
    );
    return false;
  });
  const [tickets, runs] = await Promise.all([
    load('tickets', () => readers.recentTickets(workspaceId, userId, homeListLimits.tickets)),
    load('runs', () => readers.recentRuns(workspaceId, userId, homeListLimits.runs)),
  ]);
  const data: HomeData = {
    userId,
    modelConfigured: options.modelConfigured,
    ticketReaction: options.ticketReaction,
    tickets,
    runs,
  };
  if (!admin) return data;
  const [spend, unanswered, approvals, documents, feedback] = await Promise.all([
    load('spend', () => readers.channelSpend(workspaceId, homeListLimits.spend)),
    load('unanswered', () => readers.unansweredQuestions(workspaceId, homeListLimits.unanswered)),
    load('approvals', () => readers.pendingApprovals(workspaceId, homeListLimits.approvals)),
    load('documents', () => readers.documents(workspaceId, homeListLimits.documents)),
    load('feedback', () => readers.feedbackTally(workspaceId)),
  ]);
  return { ...data, admin: { spend, unanswered, approvals, documents, feedback } };
}
