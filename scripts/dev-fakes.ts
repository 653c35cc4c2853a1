/**
 * `npm run dev:fakes`: runs Deskhand with no Slack or OpenAI account. Starts the fake Slack Web API and the
 * fake OpenAI server (from test/fakes), then the app itself (`node src/main.ts`) in HTTP mode against them with
 * the embedded index and the local Redis. Type a line to talk to it:
 *   hello there             → sent as a signed app_mention event
 *   /ask how do refunds work → sent as a signed slash command
 * and see what Deskhand posted to the fake Slack. Ctrl-C stops everything (the app shuts down gracefully).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeOpenAIServer } from '../test/fakes/openai-server.ts';
import { SlackDriver, slackPayloads } from '../test/fakes/slack-driver.ts';
import { FakeSlackWebApi } from '../test/fakes/slack-web-api.ts';

const port = Number(process.env.PORT ?? '3000');
const signingSecret = 'dev-signing-secret-123456';
const channel = 'C0DEV';

const slack = await FakeSlackWebApi.start();
const openai = await FakeOpenAIServer.start({ whenEmpty: 'default' });
const app = spawn(process.execPath, ['src/main.ts'], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    PORT: String(port),
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.url,
    SLACK_APP_TOKEN: '',
    OPENAI_API_KEY: 'fake-key',
    OPENAI_BASE_URL: openai.baseURL,
    QDRANT_URL: '',
    DATA_DIR: process.env.DATA_DIR ?? './data/dev',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  },
});

let stopping = false;
async function stop(code: number): Promise<never> {
  stopping = true;
  if (app.exitCode === null) {
    app.kill('SIGTERM');
    await new Promise((resolve) => app.once('exit', resolve));
  }
  await slack.close();
  await openai.close();
  process.exit(code);
}
app.once('exit', (code) => {
  if (!stopping) {
    console.error(`Deskhand exited (code ${code}).`);
    void stop(code ?? 1);
  }
});
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

const readyUrl = `http://127.0.0.1:${port}/readyz`;
for (let attempt = 0; ; attempt += 1) {
  const status = await fetch(readyUrl).then(
    (response) => response.status,
    () => 0,
  );
  if (status === 200) break;
  if (attempt > 300) {
    console.error(`Deskhand did not become ready at ${readyUrl}.`);
    await stop(1);
  }
  await sleep(200);
}

const driver = new SlackDriver({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });
console.log(`\nDeskhand is running on http://127.0.0.1:${port} against a fake Slack (${slack.url}) and a fake OpenAI.`);
console.log(
  `Health: /healthz, /readyz, /metrics. Type a message (or a slash command such as "/budget"); Ctrl-C stops.\n`,
);

const input = createInterface({ input: process.stdin, terminal: false });
process.stdout.write('you> ');
for await (const raw of input) {
  const line = raw.trim();
  if (line !== '') await converse(line);
  process.stdout.write('you> ');
}
await stop(0);

async function converse(line: string): Promise<void> {
  const seen = slack.calls.length;
  const request = line.startsWith('/')
    ? slackPayloads.slashCommand({
        command: line.split(/\s+/)[0] ?? '/ask',
        text: line.replace(/^\/\S+\s*/, ''),
        channel,
      })
    : slackPayloads.appMention({ text: `<@${slack.botUserId}> ${line}`, channel });
  const response = await driver.send(request);
  console.log(`(acked: HTTP ${response.status} in ${response.latencyMs.toFixed(1)} ms)`);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const replies = slack.calls
      .slice(seen)
      .filter((call) => call.method === 'chat.postMessage' || call.method === 'chat.postEphemeral');
    if (replies.length > 0) {
      for (const reply of replies) console.log(`deskhand (${reply.method})> ${String(reply.params.text)}`);
      return;
    }
    await sleep(100);
  }
  console.log('(no reply within 15 s)');
}
