/**
 * `WorkspaceMessenger`: the `Messenger` port for OAuth distribution, where every workspace has its own bot token.
 * It holds one `SlackMessenger` per workspace, each with a `WebClient` on that workspace's token, and sends each
 * call through the one of the workspace the current work acts for (`currentWorkspace()`, entered by the work side
 * per request). One messenger per workspace is also what Slack's limits ask for: the `chat.update` and streaming
 * budgets are per workspace, so one busy workspace cannot use up another's.
 *
 * A call outside any workspace scope is refused (`internal`, logged): guessing a workspace could post with the
 * wrong one's token. When a workspace's token changes (reinstall), its messenger is rebuilt on the next call;
 * `forget` drops it after an uninstall. Tokens are never logged.
 */
import type { WebClient } from '@slack/web-api';
import { DeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type {
  ConversationSharing,
  FileDetails,
  MessageStream,
  Messenger,
  OutgoingMessage,
  PostedMessage,
  StreamOptions,
  SuggestedPrompt,
  ThreadMessage,
  ThreadReadOptions,
} from '../../ports/messenger.ts';
import { currentWorkspace } from '../../ports/workspace-scope.ts';
import type { SlackMessenger } from './slack-messenger.ts';

export interface WorkspaceMessengerOptions {
  /** The bot token of a workspace (rejects when it has none). */
  tokenOf: (workspaceId: string) => Promise<string>;
  /** Builds a workspace's messenger on a client with its token (composition decides the settings). */
  create: (client: WebClient) => SlackMessenger;
  /** Builds a client for a token (`createSlackWebClient`). */
  client: (token: string) => WebClient;
  logger: Logger;
}

export class WorkspaceMessenger implements Messenger {
  readonly #options: WorkspaceMessengerOptions;
  readonly #logger: Logger;
  readonly #messengers = new Map<string, { token: string; client: WebClient; messenger: SlackMessenger }>();

  constructor(options: WorkspaceMessengerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'workspace-messenger' });
  }

  /** The Web API client of the current workspace (for calls outside the Messenger port, e.g. user groups). */
  async client(): Promise<WebClient> {
    return (await this.#current()).client;
  }

  /** The bot token of the current workspace (for file downloads). */
  async token(): Promise<string> {
    return (await this.#current()).token;
  }

  /** Drops a workspace's messenger (after it uninstalled), once what it had queued is sent or failed. */
  async forget(workspaceId: string): Promise<void> {
    const entry = this.#messengers.get(workspaceId);
    this.#messengers.delete(workspaceId);
    await entry?.messenger.drain().catch(() => {});
  }

  async post(message: OutgoingMessage): Promise<PostedMessage> {
    return (await this.#messenger()).post(message);
  }
  async update(message: OutgoingMessage & { ts: string }): Promise<void> {
    return (await this.#messenger()).update(message);
  }
  async postEphemeral(message: OutgoingMessage & { user: string }): Promise<void> {
    return (await this.#messenger()).postEphemeral(message);
  }
  async openView(triggerId: string, view: Record<string, unknown>): Promise<{ viewId: string }> {
    return (await this.#messenger()).openView(triggerId, view);
  }
  async updateView(viewId: string, view: Record<string, unknown>): Promise<void> {
    return (await this.#messenger()).updateView(viewId, view);
  }
  async publishHome(userId: string, view: Record<string, unknown>): Promise<void> {
    return (await this.#messenger()).publishHome(userId, view);
  }
  async threadMessages(channel: string, threadTs: string, options?: ThreadReadOptions): Promise<ThreadMessage[]> {
    return (await this.#messenger()).threadMessages(channel, threadTs, options);
  }
  async message(channel: string, ts: string): Promise<ThreadMessage | undefined> {
    return (await this.#messenger()).message(channel, ts);
  }
  async permalink(channel: string, ts: string): Promise<string | undefined> {
    return (await this.#messenger()).permalink(channel, ts);
  }
  async setStatus(channel: string, threadTs: string, status: string): Promise<void> {
    // Best effort like SlackMessenger's: without a workspace's messenger there is no status to show.
    const messenger = await this.#messenger().catch(() => undefined);
    await messenger?.setStatus(channel, threadTs, status);
  }
  async startStream(options: StreamOptions): Promise<MessageStream> {
    return (await this.#messenger()).startStream(options);
  }
  async fileInfo(fileId: string): Promise<FileDetails | undefined> {
    return (await this.#messenger()).fileInfo(fileId);
  }
  async conversationSharing(channel: string): Promise<ConversationSharing> {
    return (await this.#messenger()).conversationSharing(channel);
  }

  async setSuggestedPrompts(channel: string, threadTs: string, prompts: SuggestedPrompt[], title?: string) {
    // Best effort like SlackMessenger's.
    const messenger = await this.#messenger().catch(() => undefined);
    await messenger?.setSuggestedPrompts(channel, threadTs, prompts, title);
  }
  async setThreadTitle(channel: string, threadTs: string, title: string): Promise<void> {
    const messenger = await this.#messenger().catch(() => undefined);
    await messenger?.setThreadTitle(channel, threadTs, title);
  }
  async isChannelMember(channel: string, user: string): Promise<boolean | undefined> {
    return (await this.#messenger()).isChannelMember(channel, user);
  }

  /** Drains every workspace's messenger. */
  async drain(): Promise<void> {
    await Promise.all([...this.#messengers.values()].map(({ messenger }) => messenger.drain()));
  }

  async #messenger(): Promise<SlackMessenger> {
    return (await this.#current()).messenger;
  }

  async #current(): Promise<{ token: string; client: WebClient; messenger: SlackMessenger }> {
    const workspaceId = currentWorkspace();
    if (!workspaceId) {
      this.#logger.error({ code: 'internal' }, 'a Slack call outside any workspace scope was refused');
      throw new DeskhandError('internal', 'Slack call outside a workspace scope', {
        userMessage: 'I could not tell which workspace this is for, so I sent nothing.',
      });
    }
    const token = await this.#options.tokenOf(workspaceId);
    const existing = this.#messengers.get(workspaceId);
    if (existing?.token === token) return existing;
    if (existing) void existing.messenger.drain().catch(() => {});
    const client = this.#options.client(token);
    const entry = { token, client, messenger: this.#options.create(client) };
    this.#messengers.set(workspaceId, entry);
    this.#logger.info({ workspaceId, rebuilt: existing !== undefined }, 'workspace messenger ready');
    return entry;
  }
}
