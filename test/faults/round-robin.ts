/**
 * The load balancer of the fault test and Slack's delivery behaviour, in the test itself:
 * - every signed request goes to the next replica in turn (plain round-robin: no health checks, so a killed
 *   replica keeps getting its share and the connection is refused, as behind a balancer that has not noticed yet);
 * - an event that fails (a status other than 2xx, no answer within Slack's 3 s, a refused connection) is delivered
 *   again as Slack does — up to 3 retries with `X-Slack-Retry-Num` 1..3 and `X-Slack-Retry-Reason`
 *   (`http_error`, `http_timeout`, `connection_failed`) — at Slack's spacing "immediately, after 1 minute, after
 *   5 minutes" compressed 60×: immediately, after 1 s, after 5 s;
 * - `duplicateAfterMs`: the event is delivered a second time anyway, to a different replica, as Slack's first
 *   retry (`X-Slack-Retry-Num: 1`, reason `http_timeout`) — what Slack does when the first answer was slower than
 *   3 s — so the replicas see the same event twice at nearly the same time;
 * - slash commands are not redelivered (Slack shows the user an error instead): a failed command is recorded.
 * Every attempt is recorded with the replica, the status (0: no answer) and the reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SlackDriver, type SlackRequest } from '../fakes/slack-driver.ts';

export interface Attempt {
  /** The event id or the command's marker. */
  key: string;
  retryNum: number;
  replica: string;
  sentAt: number;
  latencyMs: number;
  /** HTTP status; 0 when nothing answered (refused connection, timeout). */
  status: number;
  /** Why the attempt failed (status and body, `timeout`, `ECONNREFUSED`…); '' when it succeeded. */
  reason: string;
}

export interface DeliveryOutcome {
  key: string;
  attempts: Attempt[];
  /** Whether some attempt got a 2xx (Slack would then stop retrying). */
  delivered: boolean;
}

/** Slack's retry spacing (immediately, 1 min, 5 min) compressed 60×. */
export const compressedRetryDelaysMs = [0, 1_000, 5_000];
const slackTimeoutMs = 3_000;

export class RoundRobin {
  readonly attempts: Attempt[] = [];
  #targets: { name: string; driver: SlackDriver }[];
  #cursor = 0;

  constructor(targets: { name: string; port: number }[], signingSecret: string) {
    this.#targets = targets.map((target) => ({
      name: target.name,
      driver: new SlackDriver({ url: `http://127.0.0.1:${target.port}/slack/events`, signingSecret }),
    }));
  }

  /** The next replica in turn, skipping `other` (so a redelivery lands elsewhere). */
  #next(other?: string): { name: string; driver: SlackDriver } {
    for (;;) {
      const target = this.#targets[this.#cursor % this.#targets.length] as { name: string; driver: SlackDriver };
      this.#cursor += 1;
      if (target.name !== other || this.#targets.length === 1) return target;
    }
  }

  /** Picks the replica at once (so the caller knows it) and sends; `done` resolves with the attempt. */
  #dispatch(
    key: string,
    request: SlackRequest,
    retryNum: number,
    reason: string,
    other?: string,
  ): { replica: string; done: Promise<Attempt> } {
    const target = this.#next(other);
    return { replica: target.name, done: this.#send(target, key, request, retryNum, reason) };
  }

  async #send(
    target: { name: string; driver: SlackDriver },
    key: string,
    request: SlackRequest,
    retryNum: number,
    reason: string,
  ): Promise<Attempt> {
    const sentAt = Date.now();
    const started = performance.now();
    let attempt: Attempt;
    try {
      const response = await target.driver.send(request, {
        timeoutMs: slackTimeoutMs,
        ...(retryNum > 0 ? { retryNum, retryReason: reason } : {}),
      });
      const ok = response.status >= 200 && response.status < 300;
      attempt = {
        key,
        retryNum,
        replica: target.name,
        sentAt,
        latencyMs: response.latencyMs,
        status: response.status,
        reason: ok ? '' : `${response.status} ${response.body.slice(0, 200)}`.trim(),
      };
    } catch (error) {
      const name = (error as Error).name;
      const code = (error as { cause?: { code?: string } }).cause?.code;
      attempt = {
        key,
        retryNum,
        replica: target.name,
        sentAt,
        latencyMs: performance.now() - started,
        status: 0,
        reason: name === 'TimeoutError' ? 'timeout (no answer within 3 s)' : (code ?? name),
      };
    }
    this.attempts.push(attempt);
    return attempt;
  }

  /** Delivers an event as Slack would (see the file comment); resolves when Slack would stop trying. */
  async deliverEvent(request: SlackRequest, options: { duplicateAfterMs?: number } = {}): Promise<DeliveryOutcome> {
    const key = String((request.payload as { event_id?: unknown }).event_id);
    const attempts: Attempt[] = [];
    const first = this.#dispatch(key, request, 0, '');
    let firstFailed = false;
    void first.done.then((attempt) => {
      firstFailed = attempt.status < 200 || attempt.status >= 300;
    });
    if (options.duplicateAfterMs !== undefined) {
      // The planned second delivery: after the delay, or at once when the first has already failed.
      const deadline = Date.now() + options.duplicateAfterMs;
      while (Date.now() < deadline && !firstFailed) await sleep(10);
      const duplicate = this.#dispatch(key, request, 1, 'http_timeout', first.replica);
      attempts.push(await first.done, await duplicate.done);
    } else {
      attempts.push(await first.done);
    }
    const succeeded = () => attempts.some((attempt) => attempt.status >= 200 && attempt.status < 300);
    while (!succeeded() && attempts.length <= compressedRetryDelaysMs.length) {
      const retryNum = attempts.length;
      await sleep(compressedRetryDelaysMs[retryNum - 1] ?? 0);
      const last = attempts.at(-1) as Attempt;
      const reason =
        last.status === 0 ? (/timeout/.test(last.reason) ? 'http_timeout' : 'connection_failed') : 'http_error';
      attempts.push(await this.#dispatch(key, request, retryNum, reason, last.replica).done);
    }
    return { key, attempts, delivered: succeeded() };
  }

  /** Sends a slash command once (Slack does not redeliver commands). */
  async sendCommand(key: string, request: SlackRequest): Promise<DeliveryOutcome> {
    const attempt = await this.#dispatch(key, request, 0, '').done;
    return { key, attempts: [attempt], delivered: attempt.status >= 200 && attempt.status < 300 };
  }
}
