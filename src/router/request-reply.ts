/**
 * `RequestReply`: the `Reply` of one request (src/ports/capability.ts). The router makes one per request and hands
 * it to the capability; capabilities that stream, update progress or post a card send through it, and the router
 * delivers returned outcomes and failures through the same object.
 *
 * Guarantees:
 * - the target is decided here only: the channel the request came from; the reply thread is the thread root, or
 *   the triggering message when it starts a thread, and none for a slash command (`replyThreadTsOf`);
 * - a returned reply defaults to the thread for a conversation (mention, thread follow-up) and to an ephemeral
 *   message otherwise; `channel` visibility posts outside any thread;
 * - a failure is posted in the thread of a conversation and ephemerally everywhere else, with the reason code
 *   (a refusal to work in the channel is always ephemeral);
 * - `conversationThreadTs` is the thread a visible reply went into (the reply thread, or the new channel message
 *   that starts one), or the reply thread when the capability said the conversation continues there; the router
 *   remembers it for conversational routes. Ephemeral replies and failures never set it;
 * - exactly one reply across a crash: the first visible message (a post, a stream, a delivered outcome or failure)
 *   is saved with the request's durable work item (`IncomingRequest.replyAnchor`, `ReplyAnchors`) as soon as Slack
 *   has it; a re-run with a saved message continues that message (`chat.update`, a stream resumed in update mode)
 *   instead of posting a second one, and posts anew only when Slack refuses the edit. Content too long for one
 *   message is cut to its first part when it replaces a saved message (as `update` does).
 */
import { DeskhandError, type OutcomeCode } from '../errors.ts';
import type { CapabilityOutcome, IncomingRequest, Reply, ReplyContent } from '../ports/capability.ts';
import type { MessageStream, Messenger, OutgoingMessage, PostedMessage } from '../ports/messenger.ts';
import type { ReplyAnchor, ReplyAnchors } from '../ports/reply-anchor.ts';
import { errorMessage } from '../slack-kit/error-message.ts';

/** Failures told only to the requester, even in a conversation: nobody else in the channel asked. */
const privateFailures: ReadonlySet<OutcomeCode> = new Set(['channel_not_allowed']);

/** What a reply needs to know about its request. */
export type ReplyTarget = Pick<IncomingRequest, 'origin' | 'workspaceId' | 'channelId' | 'userId'> &
  Partial<Pick<IncomingRequest, 'threadTs' | 'messageTs' | 'replyAnchor'>> & { replyThreadTs?: string };

/** The reply thread of a request: given, else the thread root or the triggering message; none for a command. */
export function replyThreadTsOf(request: ReplyTarget): string | undefined {
  if (request.replyThreadTs !== undefined) return request.replyThreadTs;
  if (request.origin === 'command') return undefined;
  return request.threadTs ?? request.messageTs;
}

export class RequestReply implements Reply {
  readonly channel: string;
  readonly user: string;
  readonly threadTs: string | undefined;
  readonly #messenger: Messenger;
  readonly #workspaceId: string;
  readonly #conversational: boolean;
  #conversationThreadTs: string | undefined;
  readonly #anchor: ReplyAnchor | undefined;
  readonly #anchors: ReplyAnchors | undefined;
  /** The message an interrupted run started, until the first visible output of this run takes it over. */
  #resumeTs: string | undefined;
  /** The first visible message is known (saved, or taken over from the earlier run): later ones are not anchors. */
  #anchored = false;

  constructor(request: ReplyTarget, messenger: Messenger, anchors?: ReplyAnchors) {
    this.channel = request.channelId;
    this.user = request.userId;
    this.threadTs = replyThreadTsOf(request);
    this.#messenger = messenger;
    this.#workspaceId = request.workspaceId;
    this.#conversational = request.origin === 'mention' || request.origin === 'thread_follow_up';
    this.#anchor = request.replyAnchor;
    this.#anchors = anchors;
    this.#resumeTs = request.replyAnchor?.replyTs;
  }

  /** The thread the conversation continues in, once a visible reply went there (see the module comment). */
  get conversationThreadTs(): string | undefined {
    return this.#conversationThreadTs;
  }

  get canStream(): boolean {
    return this.threadTs !== undefined && this.#messenger.startStream !== undefined;
  }

  async post(content: ReplyContent): Promise<PostedMessage> {
    const posted = await this.#postVisible({ channel: this.channel, ...this.#inThread(), ...content });
    this.#conversationThreadTs = this.threadTs ?? posted.ts;
    return posted;
  }

  update(ts: string, content: ReplyContent): Promise<void> {
    return this.#messenger.update({ channel: this.channel, ts, ...this.#inThread(), ...content });
  }

  postEphemeral(content: ReplyContent): Promise<void> {
    return this.#messenger.postEphemeral({ channel: this.channel, user: this.user, ...content, ...this.#inThread() });
  }

  async setStatus(status: string): Promise<void> {
    if (this.threadTs === undefined || !this.#messenger.setStatus) return;
    await this.#messenger.setStatus(this.channel, this.threadTs, status).catch(() => undefined);
  }

  async startStream(): Promise<MessageStream> {
    const startStream = this.#messenger.startStream;
    if (this.threadTs === undefined || !startStream) {
      throw new DeskhandError('internal', 'startStream without a reply thread or a streaming Messenger');
    }
    const resumeTs = this.#takeResumeTs();
    const anchoring =
      this.#anchors !== undefined && this.#anchor !== undefined && (!this.#anchored || resumeTs !== undefined);
    this.#anchored = true;
    const stream = await startStream.call(this.#messenger, {
      channel: this.channel,
      threadTs: this.threadTs,
      ...(resumeTs === undefined ? {} : { resumeTs }),
      ...(anchoring ? { onFirstMessage: (ts: string) => this.#save(ts, resumeTs) } : {}),
      recipientUserId: this.user,
      // Must be a team: for an org-wide tenant (`E…`) it is left out; Slack then refuses and the stream falls back.
      ...(this.#workspaceId.startsWith('T') ? { recipientTeamId: this.#workspaceId } : {}),
    });
    this.#conversationThreadTs = this.threadTs;
    return stream;
  }

  continueInThread(): void {
    if (this.threadTs !== undefined) this.#conversationThreadTs = this.threadTs;
  }

  /** Sends what a capability returned (nothing for `posted`: it sent its reply itself). */
  async deliver(outcome: CapabilityOutcome): Promise<void> {
    if (outcome.kind === 'posted') return;
    const visibility = outcome.visibility ?? (this.#conversational ? 'thread' : 'ephemeral');
    const content = { text: outcome.text, ...(outcome.blocks ? { blocks: outcome.blocks } : {}) };
    if (visibility === 'ephemeral') await this.postEphemeral(content);
    else if (visibility === 'thread') await this.post(content);
    else await this.#postVisible({ channel: this.channel, ...content });
  }

  /**
   * Tells the requester why there is no result: in a conversation's thread, else ephemerally — and always
   * ephemerally when the reason concerns only the requester (a channel where Deskhand is switched off).
   */
  async deliverFailure(error: DeskhandError): Promise<void> {
    const message = errorMessage(error.code, error.userMessage);
    if (this.#conversational && this.threadTs !== undefined && !privateFailures.has(error.code)) {
      await this.#postVisible({ channel: this.channel, threadTs: this.threadTs, ...message });
      return;
    }
    await this.postEphemeral(message);
  }

  /**
   * Posts a visible message; the first one of a re-run replaces the message the interrupted run started (posted
   * anew when Slack refuses that edit, e.g. the message was deleted), and the first one is saved as the anchor.
   */
  async #postVisible(message: OutgoingMessage): Promise<PostedMessage> {
    const resumeTs = this.#takeResumeTs();
    if (resumeTs !== undefined) {
      this.#anchored = true;
      try {
        await this.#messenger.update({ ...message, ts: resumeTs });
        return { channel: message.channel, ts: resumeTs, allTs: [resumeTs] };
      } catch (error) {
        if (!(error instanceof DeskhandError && typeof error.details.slackError === 'string')) throw error;
        // Refused (deleted, not ours): the earlier message cannot be continued; this post becomes the anchor.
        this.#anchored = false;
      }
    }
    const posted = await this.#messenger.post(message);
    if (!this.#anchored) {
      this.#anchored = true;
      await this.#save(posted.ts, resumeTs);
    }
    return posted;
  }

  #takeResumeTs(): string | undefined {
    const ts = this.#resumeTs;
    this.#resumeTs = undefined;
    return ts;
  }

  /** Saves the first message (not again when it is the one already saved). Never rejects (the port's contract). */
  async #save(ts: string, alreadySaved: string | undefined): Promise<void> {
    if (this.#anchor === undefined || this.#anchors === undefined || ts === alreadySaved) return;
    await this.#anchors.save(this.#anchor.deliveryId, ts);
  }

  #inThread(): { threadTs?: string } {
    return this.threadTs === undefined ? {} : { threadTs: this.threadTs };
  }
}
