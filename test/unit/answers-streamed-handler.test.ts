/**
 * The question handler on a Messenger that streams: status, appended sanitised text, and the ending (rest of
 * the text, sources, footer, buttons). The stream is recorded at the port (what the handler asks for); the
 * Slack side of streaming is covered by test/unit/slack-message-stream.test.ts and the e2e tests.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQuestionHandler } from '../../src/capabilities/answers/answer-handlers.ts';
import type { Retriever } from '../../src/capabilities/answers/answer-source.ts';
import { FeedbackStore } from '../../src/capabilities/answers/feedback-store.ts';
import { DeskhandError } from '../../src/errors.ts';
import type { CapabilityHandler, CapabilityRequest } from '../../src/ports/capability.ts';
import type { Block, MessageStream, StreamOptions } from '../../src/ports/messenger.ts';
import { RequestReply } from '../../src/router/request-reply.ts';
import { RecordingMessenger } from '../fakes/recording-messenger.ts';
import { ScriptedModel } from '../fakes/scripted-model.ts';
import { passage } from './answers-test-support.ts';

const prefix = `test:${randomUUID()}:`;
let redis: Redis;
let feedback: FeedbackStore;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  feedback = new FeedbackStore(redis, { keyPrefix: prefix, ttlSeconds: 600 });
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

interface RecordedStream {
  options: StreamOptions;
  appended: string[];
  stopped?: { markdown?: string; blocks?: Block[]; text: string };
}

/** A RecordingMessenger that also records statuses and streams. */
class StreamingMessenger extends RecordingMessenger {
  readonly statuses: { channel: string; threadTs: string; status: string }[] = [];
  readonly streams: RecordedStream[] = [];

  async setStatus(channel: string, threadTs: string, status: string): Promise<void> {
    this.statuses.push({ channel, threadTs, status });
  }

  async startStream(options: StreamOptions): Promise<MessageStream> {
    const recorded: RecordedStream = { options, appended: [] };
    this.streams.push(recorded);
    return {
      mode: 'stream',
      append: (markdown) => recorded.appended.push(markdown),
      updateTasks: () => {},
      stop: async (final) => {
        if (final) recorded.stopped = final;
        return { channel: options.channel, ts: '1700000000.000900' };
      },
    };
  }
}

const refunds = passage({ documentId: 'refunds', title: 'Refund policy', text: 'Refunds are paid within 5 days.' });
const retrieve: Retriever = async () => ({ passages: [refunds], closest: [], indexVersion: 1 });

function mention(overrides: Partial<CapabilityRequest> = {}): CapabilityRequest {
  return {
    route: 'question',
    origin: 'mention',
    workspaceId: 'T1',
    channelId: 'C1',
    userId: 'U0ASKER1',
    text: 'How long do refunds take?',
    messageTs: '1700000000.000100',
    replyThreadTs: '1700000000.000100',
    requestId: 'Ev1',
    threadContext: [],
    ...overrides,
  };
}

/** Calls the handler as the router does, with the request's `Reply` over `messenger`; returns both. */
async function run(handler: CapabilityHandler, messenger: StreamingMessenger, routed: CapabilityRequest) {
  const reply = new RequestReply(routed, messenger);
  return { outcome: await handler(routed, reply), reply };
}

describe('question handler with a streaming Messenger', () => {
  test('shows a status, streams the sanitised answer and ends with sources, footer and buttons, posting nothing else', async () => {
    const messenger = new StreamingMessenger();
    const gateway = new ScriptedModel({ responseCache: true }).enqueue({
      text: 'Refunds are paid within 5 days [1]. <!channel>',
    });
    const handler = createQuestionHandler({ answer: { gateway, retrieve }, feedback });
    const { outcome, reply } = await run(handler, messenger, mention());
    assert.deepEqual(outcome, { kind: 'posted' });
    assert.equal(reply.conversationThreadTs, '1700000000.000100');
    assert.deepEqual(messenger.statuses, [
      { channel: 'C1', threadTs: '1700000000.000100', status: 'is searching the documents…' },
    ]);
    assert.equal(messenger.posts.length + messenger.updates.length, 0);
    const [stream] = messenger.streams;
    assert.deepEqual(stream?.options, {
      channel: 'C1',
      threadTs: '1700000000.000100',
      recipientUserId: 'U0ASKER1',
      recipientTeamId: 'T1',
    });
    const shown = `${stream?.appended.join('')}${stream?.stopped?.markdown ?? ''}`;
    assert.match(shown, /^Refunds are paid within 5 days \[1\]\./);
    assert.doesNotMatch(shown, /<!channel>/);
    const blocks = JSON.stringify(stream?.stopped?.blocks);
    assert.match(blocks, /\*Sources\*/);
    assert.match(blocks, /answer_helpful/);
    assert.doesNotMatch(blocks, /Refunds are paid/);
  });

  test('an org-wide tenant (E…) is not sent as the recipient team, so Slack refuses and the fallback is used', async () => {
    const messenger = new StreamingMessenger();
    const gateway = new ScriptedModel({ responseCache: true }).enqueue({ text: 'Five days [1].' });
    await run(
      createQuestionHandler({ answer: { gateway, retrieve }, feedback }),
      messenger,
      mention({ workspaceId: 'E1' }),
    );
    assert.equal(messenger.streams[0]?.options.recipientTeamId, undefined);
  });

  test('a question that fails ends the stream with the reason', async () => {
    const messenger = new StreamingMessenger();
    const failing: Retriever = async () => {
      throw new DeskhandError('internal', 'index exploded');
    };
    const handler = createQuestionHandler({
      answer: { gateway: new ScriptedModel({ responseCache: true }), retrieve: failing },
      feedback,
    });
    const { outcome } = await run(handler, messenger, mention());
    assert.equal(outcome.kind, 'posted');
    const stopped = messenger.streams[0]?.stopped;
    assert.ok(stopped, 'the stream was ended');
    assert.match(JSON.stringify(stopped.blocks), /:warning:/);
  });

  test('without a thread (/ask) the answer is posted and updated, not streamed', async () => {
    const messenger = new StreamingMessenger();
    const gateway = new ScriptedModel({ responseCache: true }).enqueue({ text: 'Five days [1].' });
    const { messageTs: _messageTs, replyThreadTs: _replyThreadTs, ...withoutThread } = mention();
    await run(createQuestionHandler({ answer: { gateway, retrieve }, feedback }), messenger, {
      ...withoutThread,
      origin: 'command',
      command: '/ask',
    });
    assert.equal(messenger.streams.length, 0);
    assert.equal(messenger.posts.length, 1);
    assert.match(JSON.stringify(messenger.updates.at(-1)?.blocks), /Five days \[1\]/);
  });
});
