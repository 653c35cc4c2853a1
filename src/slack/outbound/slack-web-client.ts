/**
 * `createSlackWebClient`: the one place the `@slack/web-api` `WebClient` is built, with the settings the
 * messenger's egress guarantees rely on (docs/platform-facts.md "Slack: egress"):
 * - the SDK never retries by itself (`retries: 0`): the messenger decides what is safe to repeat;
 * - a 429 rejects the call (`rejectRateLimitedCalls`) instead of pausing the SDK's global queue, so a rate
 *   limit in one channel never stalls another;
 * - every call has a timeout; calls go only to `apiUrl` (absolute URLs refused).
 */
import { LogLevel, WebClient } from '@slack/web-api';

type SlackLogger = NonNullable<ConstructorParameters<typeof WebClient>[1]>['logger'];

export interface SlackWebClientOptions {
  token: string;
  /** Web API base URL (`SLACK_API_URL`), e.g. https://slack.com/api/ or a fake's URL. */
  apiUrl: string;
  /** Per-call timeout (`SLACK_REQUEST_TIMEOUT_MS`). */
  timeoutMs: number;
  /**
   * Where the SDK's own log lines go (e.g. the Bolt adapter over pino). Without it the SDK prints errors only:
   * the messenger logs every failed call itself, structured and with its code.
   */
  clientLogger?: SlackLogger;
}

/**
 * Builds the `WebClient` with the settings the messenger's guarantees rely on: no SDK retries, 429s rejected
 * (never a paused global queue), a per-call timeout. Called from the composition root.
 */
export function createSlackWebClient(options: SlackWebClientOptions): WebClient {
  return new WebClient(options.token, {
    slackApiUrl: options.apiUrl,
    timeout: options.timeoutMs,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    allowAbsoluteUrls: false,
    ...(options.clientLogger === undefined ? { logLevel: LogLevel.ERROR } : { logger: options.clientLogger }),
  });
}
