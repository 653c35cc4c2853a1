/**
 * Test doubles for the ticket tests: a recording Messenger and `tsOf`. The scripted model is the shared
 * `ScriptedModel` (test/fakes/scripted-model.ts).
 */
import { DeskhandError } from '../../src/errors.ts';
import type { Messenger, OutgoingMessage, PostedMessage, ThreadMessage } from '../../src/ports/messenger.ts';

export class RecordingMessenger implements Messenger {
  readonly posts: OutgoingMessage[] = [];
  readonly updates: (OutgoingMessage & { ts: string })[] = [];
  readonly ephemerals: (OutgoingMessage & { user: string })[] = [];
  readonly views: { triggerId: string; view: Record<string, unknown> }[] = [];
  failPosts = 0;
  #counter = 0;

  async post(message: OutgoingMessage): Promise<PostedMessage> {
    if (this.failPosts > 0) {
      this.failPosts -= 1;
      throw new DeskhandError('upstream_unavailable', 'Slack is down (scripted)');
    }
    this.posts.push(message);
    this.#counter += 1;
    const ts = `1764000000.${String(this.#counter).padStart(6, '0')}`;
    return { channel: message.channel, ts, allTs: [ts] };
  }
  async update(message: OutgoingMessage & { ts: string }): Promise<void> {
    this.updates.push(message);
  }
  async postEphemeral(message: OutgoingMessage & { user: string }): Promise<void> {
    this.ephemerals.push(message);
  }
  async openView(triggerId: string, view: Record<string, unknown>): Promise<{ viewId: string }> {
    this.views.push({ triggerId, view });
    return { viewId: `V${this.views.length}` };
  }
  async updateView(): Promise<void> {}
  async threadMessages(): Promise<ThreadMessage[]> {
    return [];
  }
  async message(): Promise<ThreadMessage | undefined> {
    return undefined;
  }
  async permalink(channel: string, ts: string): Promise<string | undefined> {
    return `https://example.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
  }
  async drain(): Promise<void> {}
}

/** Slack ts for an ISO instant. */
export function tsOf(iso: string): string {
  return (Date.parse(iso) / 1000).toFixed(6);
}
