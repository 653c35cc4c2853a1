/**
 * Downloads a Slack file (`url_private`) with the bot token, refusing anything larger than `maxBytes` while it
 * streams — the declared size is not trusted. Hand-written: a bounded authenticated GET is all this needs.
 *
 * The token only ever goes to Slack: a URL (and every redirect, followed by hand and at most `maxRedirects` times)
 * must be on `files.slack.com` or the host of `SLACK_API_URL` (the fake Slack in tests), over https — plain http
 * only to a loopback host. Anything else is refused before a request is made, with `unsupported_input` and the
 * host in the log (`download_host_refused`).
 */
import { isIPv4 } from 'node:net';
import { DeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

export interface SlackFileDownloadOptions {
  botToken: string;
  maxBytes: number;
  /** Slack's Web API base URL (`SLACK_API_URL`); its host may serve files too. */
  apiUrl: string;
  logger?: Pick<Logger, 'warn'>;
  /** Redirect hops followed (each checked like the first URL); default 5. */
  maxRedirects?: number;
  /** The whole download, redirects included; default 60 s. */
  timeoutMs?: number;
}

/** Slack's file host; the API URL's host is added per configuration. */
export const slackFileHosts: readonly string[] = ['files.slack.com'];

const refusedMessage = 'I can only download files from Slack.';

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || (isIPv4(hostname) && hostname.startsWith('127.'));
}

/** Why `url` may not receive the bot token, or undefined when it may. */
function refusal(url: URL, allowedHosts: ReadonlySet<string>): string | undefined {
  if (!allowedHosts.has(url.hostname)) return 'host is not a Slack file host';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return undefined;
  return `${url.protocol.slice(0, -1)} is not allowed (https only, http only to a loopback host)`;
}

export async function downloadSlackFile(url: string, options: SlackFileDownloadOptions): Promise<Uint8Array> {
  const { botToken, maxBytes, logger } = options;
  const maxRedirects = options.maxRedirects ?? 5;
  const allowedHosts = new Set([...slackFileHosts, new URL(options.apiUrl).hostname]);
  const signal = AbortSignal.timeout(options.timeoutMs ?? 60_000);

  const check = (target: URL, redirects: number) => {
    const reason = refusal(target, allowedHosts);
    if (!reason) return;
    const details = { reason: 'download_host_refused', host: target.host, protocol: target.protocol, redirects };
    logger?.warn({ ...details, code: 'unsupported_input' }, `file download refused: ${reason}`);
    throw new DeskhandError('unsupported_input', `file download refused (${target.host}): ${reason}`, {
      userMessage: refusedMessage,
      details,
    });
  };

  let current: URL;
  try {
    current = new URL(url);
  } catch (error) {
    throw new DeskhandError('invalid_input', 'file download URL is not a URL', {
      cause: error,
      userMessage: refusedMessage,
    });
  }
  let response: Response;
  for (let redirects = 0; ; redirects += 1) {
    check(current, redirects);
    response = await fetch(current, {
      headers: { authorization: `Bearer ${botToken}` },
      redirect: 'manual',
      signal,
    });
    if (response.status < 300 || response.status >= 400) break;
    await response.body?.cancel();
    const location = response.headers.get('location');
    if (!location) {
      throw new DeskhandError(
        'upstream_unavailable',
        `file download redirected (${response.status}) without a Location`,
        {
          userMessage: 'I could not download that file from Slack.',
        },
      );
    }
    if (redirects >= maxRedirects) {
      throw new DeskhandError('upstream_unavailable', `file download redirected more than ${maxRedirects} times`, {
        userMessage: `Slack redirected that download more than ${maxRedirects} times.`,
        details: { reason: 'too_many_redirects', host: current.host },
      });
    }
    current = new URL(location, current);
  }

  if (!response.ok || !response.body) {
    throw new DeskhandError('upstream_unavailable', `file download failed with HTTP ${response.status}`, {
      userMessage: 'I could not download that file from Slack.',
    });
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new DeskhandError('input_too_large', `file larger than ${maxBytes} bytes`, {
        userMessage: `That file is larger than the ${Math.round(maxBytes / 1024 / 1024)} MB limit.`,
      });
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
