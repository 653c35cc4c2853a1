/**
 * Child process of the ingress benchmark, so that neither the fakes nor the load generator share the app's
 * event loop. `fakes` mode: the fake Slack Web API and a fake OpenAI server whose every chat reply takes
 * `modelDelayMs`. `baseline` mode: a bare node:http server that answers 200 at once. Reports its address over
 * IPC, then answers 'report' and 'stop' messages.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeOpenAIServer } from '../../test/fakes/openai-server.ts';
import { FakeSlackWebApi } from '../../test/fakes/slack-web-api.ts';

const mode = process.argv[2];
const expected = Number(process.argv[3] ?? '0');
const modelDelayMs = Number(process.argv[4] ?? '10000');

function send(message: unknown): void {
  process.send?.(message);
}

if (mode === 'baseline') {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200);
      response.end();
    });
  });
  server.listen(0, '127.0.0.1', () => send({ port: (server.address() as AddressInfo).port }));
  process.on('message', (message: { type: string }) => {
    if (message.type === 'stop') server.close(() => process.exit(0));
  });
} else {
  const slack = await FakeSlackWebApi.start();
  const openai = await FakeOpenAIServer.start({ whenEmpty: 'default' });
  for (let index = 0; index < expected; index += 1) {
    openai.enqueueChat({ content: '{"route":"help"}', delayMs: modelDelayMs });
  }
  send({ slackUrl: slack.url, slackToken: slack.token, openaiBaseURL: openai.baseURL });
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'report') {
      const posts = slack.callsTo('chat.postMessage');
      const perThread = new Map<string, number>();
      for (const post of posts) {
        const key = `${post.params.channel}:${post.params.thread_ts}`;
        perThread.set(key, (perThread.get(key) ?? 0) + 1);
      }
      send({
        type: 'report',
        posts: posts.length,
        duplicates: [...perThread.values()].filter((count) => count > 1).length,
        modelCalls: openai.chatCalls().length,
        violations: slack.violations.length + openai.violations.length,
      });
    }
    if (message.type === 'stop') {
      await slack.close();
      await openai.close();
      process.exit(0);
    }
  });
}
