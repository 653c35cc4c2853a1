/**
 * Streamed-reply benchmark (`node bench/streaming/run.ts [--tokens 600] [--rate 60]`). A simulated model emits
 * `--tokens` tokens at `--rate` tokens/s into one streamed Slack reply, against the fake Slack Web API, three
 * ways, in the same run:
 * - per-token: one `chat.appendStream` per token (a naive integration; the baseline);
 * - sdk-default: @slack/web-api's `ChatStreamer` with its default 256-character buffer;
 * - deskhand: `SlackMessenger.startStream` with its defaults (≤ ~1 call/s, or sooner at 1,000 characters).
 * It prints Slack calls, calls per second, the ratio of calls against the baseline, and how long text waited
 * between being produced and reaching Slack (p50/max), which is the price of fewer calls.
 */
import { parseArgs } from 'node:util';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { createSlackWebClient, SlackMessenger } from '../../src/slack/outbound/slack-messenger.ts';
import { FakeSlackWebApi } from '../../test/fakes/slack-web-api.ts';

const { values } = parseArgs({
  options: { tokens: { type: 'string', default: '600' }, rate: { type: 'string', default: '60' } },
});
const tokenCount = Number(values.tokens);
const tokensPerSecond = Number(values.rate);
const tokens = Array.from({ length: tokenCount }, (_, index) => (index % 12 === 11 ? '.\n\n' : ` w${index % 97}`));
const threadTs = '1700000000.000100';

interface Result {
  name: string;
  calls: number;
  seconds: number;
  lagP50: number;
  lagMax: number;
}

/** Emits the tokens at the target rate (catching up after timer slack), recording when each was produced. */
async function emit(onToken: (token: string) => void | Promise<void>): Promise<number[]> {
  const producedAt: number[] = [];
  const started = performance.now();
  for (const [index, token] of tokens.entries()) {
    const due = started + (index * 1000) / tokensPerSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    producedAt.push(performance.now());
    await onToken(token);
  }
  return producedAt;
}

/** Text a channel's stream calls carried, as `markdown_text` or `markdown_text` chunks (the SDK sends chunks). */
function callText(params: Record<string, unknown>): string {
  const markdown = typeof params.markdown_text === 'string' ? params.markdown_text : '';
  const chunks = Array.isArray(params.chunks) ? (params.chunks as { type?: string; text?: string }[]) : [];
  return markdown + chunks.map((chunk) => (chunk.type === 'markdown_text' ? (chunk.text ?? '') : '')).join('');
}

function streamCalls(slack: FakeSlackWebApi, channel: string) {
  return slack.calls.filter(
    (call) => call.params.channel === channel && /^chat\.(start|append|stop)Stream$/.test(call.method),
  );
}

function streamedText(slack: FakeSlackWebApi, channel: string): string {
  return streamCalls(slack, channel)
    .map((call) => callText(call.params))
    .join('');
}

/** Time from each token's production to the first stream call whose cumulative text contains it. */
function lags(slack: FakeSlackWebApi, channel: string, producedAt: number[]): number[] {
  const deliveries: { chars: number; at: number }[] = [];
  let chars = 0;
  for (const call of streamCalls(slack, channel)) {
    chars += callText(call.params).length;
    deliveries.push({ chars, at: call.receivedAtMonotonic });
  }
  const result: number[] = [];
  let offset = 0;
  let cursor = 0;
  for (const [index, token] of tokens.entries()) {
    offset += token.length;
    while (cursor < deliveries.length && (deliveries[cursor]?.chars ?? 0) < offset) cursor += 1;
    const delivered = deliveries[cursor];
    if (delivered) result.push(delivered.at - (producedAt[index] ?? 0));
  }
  return result.sort((a, b) => a - b);
}

async function measure(
  slack: FakeSlackWebApi,
  name: string,
  channel: string,
  run: (channel: string) => Promise<number[]>,
): Promise<Result> {
  const before = slack.calls.length;
  const started = performance.now();
  const producedAt = await run(channel);
  const seconds = (performance.now() - started) / 1000;
  const calls = slack.calls.slice(before).filter((call) => call.params.channel === channel).length;
  const delays = lags(slack, channel, producedAt);
  return {
    name,
    calls,
    seconds,
    lagP50: delays[Math.floor(delays.length / 2)] ?? Number.NaN,
    lagMax: delays.at(-1) ?? Number.NaN,
  };
}

const slack = await FakeSlackWebApi.start();
const client = createSlackWebClient({ token: slack.token, apiUrl: slack.url, timeoutMs: 5000 });
const recipients = { recipient_user_id: 'W222', recipient_team_id: slack.teamId };
try {
  const perToken = await measure(slack, 'per-token (baseline)', 'C901', async (channel) => {
    let ts: string | undefined;
    const producedAt = await emit(async (token) => {
      if (ts === undefined) {
        const started = await client.apiCall('chat.startStream', {
          channel,
          thread_ts: threadTs,
          markdown_text: token,
          ...recipients,
        });
        ts = String((started as { ts?: unknown }).ts);
      } else {
        await client.apiCall('chat.appendStream', { channel, ts, markdown_text: token });
      }
    });
    await client.apiCall('chat.stopStream', { channel, ts });
    return producedAt;
  });

  const sdkDefault = await measure(slack, 'sdk ChatStreamer (256 chars)', 'C902', async (channel) => {
    const streamer = client.chatStream({ channel, thread_ts: threadTs, ...recipients });
    const producedAt = await emit((token) => streamer.append({ markdown_text: token }).then(() => undefined));
    await streamer.stop();
    return producedAt;
  });

  const deskhand = await measure(slack, 'deskhand startStream', 'C903', async (channel) => {
    const messenger = new SlackMessenger({ client, logger: createSilentLogger() });
    const stream = await messenger.startStream({
      channel,
      threadTs,
      recipientUserId: 'W222',
      recipientTeamId: slack.teamId,
    });
    const producedAt = await emit((token) => stream.append(token));
    await stream.stop({ text: 'done' });
    return producedAt;
  });

  const expected = tokens.join('');
  for (const channel of ['C901', 'C902', 'C903']) {
    if (streamedText(slack, channel) !== expected) {
      throw new Error(`${channel}: the streamed text differs from what was produced`);
    }
  }
  slack.expectNoViolations();

  console.log(
    `${tokenCount} tokens at ${tokensPerSecond}/s (${expected.length} characters), fake Slack on 127.0.0.1; all three delivered the full text`,
  );
  console.log('method                          calls  calls/s  ratio vs baseline  lag p50 ms  lag max ms');
  for (const result of [perToken, sdkDefault, deskhand]) {
    console.log(
      `${result.name.padEnd(30)} ${String(result.calls).padStart(6)} ${(result.calls / result.seconds).toFixed(1).padStart(8)} ${(result.calls / perToken.calls).toFixed(3).padStart(18)} ${result.lagP50.toFixed(0).padStart(11)} ${result.lagMax.toFixed(0).padStart(11)}`,
    );
  }
} finally {
  await slack.close();
}
