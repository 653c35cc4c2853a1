/**
 * `RequestReply`, the one place that decides where a request's reply goes: the reply thread of each origin, the
 * default visibility of a returned reply, failures, streams, and the thread the conversation continues in.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeskhandError } from '../../src/errors.ts';
import type { MessageStream, StreamOptions } from '../../src/ports/messenger.ts';
import { type ReplyTarget, RequestReply, replyThreadTsOf } from '../../src/router/request-reply.ts';
import { RecordingMessenger } from '../fakes/recording-messenger.ts';

const mention: ReplyTarget = {
  origin: 'mention',
  workspaceId: 'T1',
  channelId: 'C1',
  userId: 'U1',
  messageTs: '1700000000.000200',
};
const command: ReplyTarget = { origin: 'command', workspaceId: 'T1', channelId: 'C1', userId: 'U1' };

class StreamingMessenger extends RecordingMessenger {
  readonly streams: StreamOptions[] = [];

  async startStream(options: StreamOptions): Promise<MessageStream> {
    this.streams.push(options);
    return {
      mode: 'stream',
      append: () => {},
      updateTasks: () => {},
      stop: async () => ({ channel: options.channel, ts: '1700000000.000900' }),
    };
  }
}

describe('RequestReply', () => {
  test('the reply thread: the thread root, else the triggering message; none for a command', () => {
    assert.equal(replyThreadTsOf(mention), '1700000000.000200');
    assert.equal(replyThreadTsOf({ ...mention, threadTs: '1700000000.000100' }), '1700000000.000100');
    assert.equal(replyThreadTsOf({ ...command, messageTs: '1700000000.000300' }), undefined);
    assert.equal(replyThreadTsOf({ ...command, replyThreadTs: '1700000000.000400' }), '1700000000.000400');
  });

  test('a returned reply goes to the thread of a conversation and ephemerally elsewhere, unless it says', async () => {
    const messenger = new RecordingMessenger();
    const inThread = new RequestReply(mention, messenger);
    await inThread.deliver({ kind: 'reply', text: 'threaded' });
    assert.deepEqual(messenger.posts[0], { channel: 'C1', threadTs: '1700000000.000200', text: 'threaded' });
    assert.equal(inThread.conversationThreadTs, '1700000000.000200');

    const fromCommand = new RequestReply(command, messenger);
    await fromCommand.deliver({ kind: 'reply', text: 'only you' });
    assert.deepEqual(messenger.ephemerals[0], { channel: 'C1', user: 'U1', text: 'only you' });
    assert.equal(fromCommand.conversationThreadTs, undefined, 'an ephemeral reply starts no conversation');

    await fromCommand.deliver({ kind: 'reply', text: 'new thread', visibility: 'thread' });
    assert.equal(messenger.posts[1]?.threadTs, undefined, 'posted in the channel, starting a thread');
    assert.equal(fromCommand.conversationThreadTs, '1800000000.000002');

    const toChannel = new RequestReply(mention, messenger);
    await toChannel.deliver({ kind: 'reply', text: 'for everyone', visibility: 'channel' });
    assert.equal(messenger.posts[2]?.threadTs, undefined);
    assert.equal(toChannel.conversationThreadTs, undefined);

    await toChannel.deliver({ kind: 'posted' });
    assert.equal(messenger.posts.length + messenger.ephemerals.length, 4, 'posted: nothing more to send');
  });

  test('a failure is posted in a conversation’s thread and ephemerally otherwise, with its reason code', async () => {
    const messenger = new RecordingMessenger();
    const failure = new DeskhandError('over_budget', 'cap reached', { userMessage: 'The budget is used up.' });
    const inThread = new RequestReply(mention, messenger);
    await inThread.deliverFailure(failure);
    assert.equal(messenger.posts[0]?.threadTs, '1700000000.000200');
    assert.match(JSON.stringify(messenger.posts[0]?.blocks), /over_budget/);
    assert.equal(inThread.conversationThreadTs, undefined, 'a failure starts no conversation');
    await new RequestReply(command, messenger).deliverFailure(failure);
    assert.equal(messenger.ephemerals[0]?.text, 'The budget is used up.');
  });

  test('what a capability posts and updates goes to the reply thread; a stream is addressed to the requester', async () => {
    const messenger = new StreamingMessenger();
    const reply = new RequestReply(mention, messenger);
    const posted = await reply.post({ text: 'working…' });
    await reply.update(posted.ts, { text: 'done' });
    assert.equal(messenger.current('C1', posted.ts)?.text, 'done');
    assert.equal(messenger.updates[0]?.threadTs, '1700000000.000200');
    assert.equal(reply.canStream, true);
    await reply.startStream();
    assert.deepEqual(messenger.streams[0], {
      channel: 'C1',
      threadTs: '1700000000.000200',
      recipientUserId: 'U1',
      recipientTeamId: 'T1',
    });
    const orgWide = new RequestReply({ ...mention, workspaceId: 'E1' }, messenger);
    await orgWide.startStream();
    assert.equal(messenger.streams[1]?.recipientTeamId, undefined, 'an org-wide tenant is not a team');
    assert.equal(new RequestReply(command, messenger).canStream, false, 'no thread, no stream');
  });

  test('continueInThread keeps the conversation in the reply thread without a visible post', () => {
    const messenger = new RecordingMessenger();
    const reply = new RequestReply(mention, messenger);
    reply.continueInThread();
    assert.equal(reply.conversationThreadTs, '1700000000.000200');
    const fromCommand = new RequestReply(command, messenger);
    fromCommand.continueInThread();
    assert.equal(fromCommand.conversationThreadTs, undefined);
  });
});
