/**
 * RecordingMessenger — an in-memory `Messenger` for capability tests that do not need Slack's HTTP layer.
 * Every post and update is recorded and checked against Slack's message limits (`checkMessage` from
 * slack-limits.ts); a message that Slack would refuse throws like Slack would and is kept in `violations`.
 * Updates are applied immediately (no coalescing: what is tested is what the capability asked for).
 *
 * ```ts
 * const messenger = new RecordingMessenger();
 * messenger.seedThread('C1', '1700000000.000100', [{ ts: '1700000000.000100', user: 'U1', text: 'hello' }]);
 * messenger.failNextPosts(1);                 // the next post throws (outcome unknown)
 * messenger.posts / messenger.updates         // what was sent, in order
 * messenger.current('C1', ts)                 // the latest content of a message
 * ```
 */
import type { Messenger, OutgoingMessage, PostedMessage, ThreadMessage } from '../../src/ports/messenger.ts';
import { checkMessage, checkView, type LimitProblem } from './slack-limits.ts';

export class RecordingMessenger implements Messenger {
  readonly posts: OutgoingMessage[] = [];
  readonly updates: (OutgoingMessage & { ts: string })[] = [];
  readonly ephemerals: (OutgoingMessage & { user: string })[] = [];
  /** App Home views published, in order (checked against Block Kit's view limits). */
  readonly homes: { userId: string; view: Record<string, unknown> }[] = [];
  readonly violations: LimitProblem[] = [];
  readonly #messages = new Map<string, OutgoingMessage>();
  readonly #threads = new Map<string, ThreadMessage[]>();
  #counter = 0;
  #failPosts = 0;

  seedThread(channel: string, threadTs: string, messages: ThreadMessage[]): void {
    this.#threads.set(`${channel}/${threadTs}`, messages);
  }

  failNextPosts(count: number): void {
    this.#failPosts = count;
  }

  /** Latest content of a posted message. */
  current(channel: string, ts: string): OutgoingMessage | undefined {
    return this.#messages.get(`${channel}/${ts}`);
  }

  postsTo(channel: string): OutgoingMessage[] {
    return this.posts.filter((message) => message.channel === channel);
  }

  #check(message: OutgoingMessage): void {
    const problem = checkMessage(message.text, message.blocks);
    if (problem) {
      this.violations.push(problem);
      throw new Error(`Slack would refuse this message: ${problem.error} (${problem.detail})`);
    }
  }

  async post(message: OutgoingMessage): Promise<PostedMessage> {
    if (this.#failPosts > 0) {
      this.#failPosts -= 1;
      throw new Error('post failed (scripted)');
    }
    this.#check(message);
    this.#counter += 1;
    const ts = `1800000000.${String(this.#counter).padStart(6, '0')}`;
    this.posts.push(structuredClone(message));
    this.#messages.set(`${message.channel}/${ts}`, structuredClone(message));
    return { channel: message.channel, ts, allTs: [ts] };
  }

  async update(message: OutgoingMessage & { ts: string }): Promise<void> {
    this.#check(message);
    const key = `${message.channel}/${message.ts}`;
    if (!this.#messages.has(key)) throw new Error(`message_not_found: ${key}`);
    this.updates.push(structuredClone(message));
    this.#messages.set(key, structuredClone(message));
  }

  async postEphemeral(message: OutgoingMessage & { user: string }): Promise<void> {
    this.#check(message);
    this.ephemerals.push(structuredClone(message));
  }

  async openView(): Promise<{ viewId: string }> {
    throw new Error('RecordingMessenger does not open views');
  }

  async updateView(): Promise<void> {
    throw new Error('RecordingMessenger does not update views');
  }

  async publishHome(userId: string, view: Record<string, unknown>): Promise<void> {
    const problem = checkView(view);
    if (problem) {
      this.violations.push(problem);
      throw new Error(`Slack would refuse this view: ${problem.error} (${problem.detail})`);
    }
    this.homes.push({ userId, view: structuredClone(view) });
  }

  async threadMessages(channel: string, threadTs: string): Promise<ThreadMessage[]> {
    return structuredClone(this.#threads.get(`${channel}/${threadTs}`) ?? []);
  }

  async message(channel: string, ts: string): Promise<ThreadMessage | undefined> {
    const stored = this.#messages.get(`${channel}/${ts}`);
    return stored ? { ts, text: stored.text } : undefined;
  }

  async permalink(channel: string, ts: string): Promise<string | undefined> {
    return `https://example.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
  }

  async drain(): Promise<void> {}
}
