/**
 * Webhook sink: POSTs the filed ticket as JSON.
 *
 * - Signed: `X-Deskhand-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 *   `X-Deskhand-Timestamp` (Unix seconds), so receivers can reject forged or replayed deliveries
 *   (`verifyWebhookSignature`).
 * - Idempotent: `Idempotency-Key` is the ticket id and the body is identical on every attempt.
 * - Retried with exponential backoff and jitter on network errors, timeouts and 5xx (also 408 and 429, which
 *   mean "try later", honouring `Retry-After`); never on other 4xx, which a retry cannot fix.
 * - Every attempt has a timeout, so the worst case is bounded: attempts × timeout + the backoff sum.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { DeskhandError } from '../../../errors.ts';
import type { Logger } from '../../../observability/logger.ts';
import type { SinkResult, TicketDelivery, TicketSink } from './ticket-sink.ts';

export const webhookSignatureHeader = 'x-deskhand-signature';
export const webhookTimestampHeader = 'x-deskhand-timestamp';

export interface WebhookSinkOptions {
  url: string;
  secret: string;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Attempts in total. Default 5. */
  maxAttempts?: number;
  /** First backoff delay; doubles each attempt. Default 500 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: typeof fetch;
  sleep?: (milliseconds: number) => Promise<void>;
  /** 0..1; the jitter source. */
  random?: () => number;
  now?: () => number;
  logger?: Logger;
}

/** `v1=` + hex HMAC-SHA256 of `${timestamp}.${body}`. */
export function signWebhookBody(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Verifies a delivery as a receiver should: the signature matches (constant-time) and the timestamp is
 * within `toleranceSeconds` of now.
 */
export function verifyWebhookSignature(input: {
  secret: string;
  timestamp: string | undefined;
  body: string;
  signature: string | undefined;
  toleranceSeconds?: number;
  now?: number;
}): boolean {
  if (!input.timestamp || !input.signature || !/^\d+$/.test(input.timestamp)) return false;
  const now = input.now ?? Date.now();
  if (Math.abs(now / 1000 - Number(input.timestamp)) > (input.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhookBody(input.secret, input.timestamp, input.body));
  const actual = Buffer.from(input.signature);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The JSON a webhook receives. */
export function webhookPayload(delivery: TicketDelivery): Record<string, unknown> {
  return {
    type: 'ticket.filed',
    id: delivery.ticketId,
    workspaceId: delivery.workspaceId,
    filedBy: delivery.filedBy,
    filedAt: delivery.filedAt,
    extractedWithoutModel: delivery.extractedWithoutModel,
    source: delivery.source,
    ticket: delivery.ticket,
    ...(delivery.handOver ? { handOver: delivery.handOver } : {}),
  };
}

function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function referenceFrom(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    for (const field of ['reference', 'id', 'key', 'ticketId']) {
      const value = parsed[field];
      if ((typeof value === 'string' && value.length > 0) || typeof value === 'number')
        return String(value).slice(0, 100);
    }
  } catch {
    // A non-JSON success body carries no reference; the ticket id is used instead.
  }
  return undefined;
}

export class WebhookTicketSink implements TicketSink {
  readonly name = 'webhook';
  readonly #options: Required<Omit<WebhookSinkOptions, 'logger'>> & { logger: Logger | undefined };

  constructor(options: WebhookSinkOptions) {
    if (!options.secret) throw new DeskhandError('configuration', 'The ticket webhook needs TICKET_WEBHOOK_SECRET');
    this.#options = {
      url: options.url,
      secret: options.secret,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxAttempts: options.maxAttempts ?? 5,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 8_000,
      fetch: options.fetch ?? fetch,
      sleep: options.sleep ?? ((milliseconds) => delay(milliseconds)),
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      logger: options.logger,
    };
  }

  /** Delay before attempt `attempt + 1`: base × 2^(attempt−1), capped, with equal jitter (half fixed, half random). */
  backoffMs(attempt: number): number {
    const exponential = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exponential / 2 + (exponential / 2) * this.#options.random());
  }

  async deliver(delivery: TicketDelivery): Promise<SinkResult> {
    const options = this.#options;
    const body = JSON.stringify(webhookPayload(delivery));
    let lastProblem = '';
    for (let attempt = 1; attempt <= options.maxAttempts; attempt += 1) {
      const timestamp = String(Math.floor(options.now() / 1000));
      let waitMs: number | undefined;
      try {
        const response = await options.fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Deskhand-Tickets/1',
            'idempotency-key': delivery.ticketId,
            [webhookTimestampHeader]: timestamp,
            [webhookSignatureHeader]: signWebhookBody(options.secret, timestamp, body),
          },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        const text = await response.text();
        if (response.ok) {
          const reference = referenceFrom(text);
          return reference ? { reference } : {};
        }
        lastProblem = `HTTP ${response.status}`;
        const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
        if (!retryable) {
          options.logger?.error(
            { status: response.status, ticketId: delivery.ticketId },
            'ticket webhook rejected the delivery',
          );
          throw new DeskhandError('upstream_unavailable', `Ticket webhook answered ${lastProblem}`, {
            retryable: false,
            userMessage: `The ticket webhook rejected the ticket (${lastProblem}). An admin needs to check TICKET_WEBHOOK_URL and its receiver.`,
            details: { status: response.status },
          });
        }
        waitMs = retryAfterMs(response);
      } catch (error) {
        if (error instanceof DeskhandError) throw error;
        lastProblem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      options.logger?.warn(
        { attempt, problem: lastProblem, ticketId: delivery.ticketId },
        'ticket webhook attempt failed',
      );
      if (attempt < options.maxAttempts) {
        await options.sleep(Math.min(options.maxDelayMs, waitMs ?? this.backoffMs(attempt)));
      }
    }
    throw new DeskhandError(
      'upstream_unavailable',
      `Ticket webhook failed after ${options.maxAttempts} attempts: ${lastProblem}`,
      {
        retryable: true,
        userMessage:
          'The ticket webhook is not answering. Click File again in a few minutes; nothing will be sent twice.',
        details: { attempts: options.maxAttempts, problem: lastProblem },
      },
    );
  }
}
