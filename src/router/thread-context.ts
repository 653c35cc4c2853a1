/**
 * Thread context for a capability: the thread's earlier messages, labelled by author, trimmed to a token budget
 * keeping the most recent ones (the latest turns matter most in a conversation).
 */
import { countTokens, type EncodingName, truncateToTokens } from '../llm/tokenizer.ts';
import type { ContextMessage } from '../ports/capability.ts';
import type { ThreadMessage } from '../ports/messenger.ts';

export interface BotIdentity {
  botUserId?: string | undefined;
  botId?: string | undefined;
  /** The installation's workspace (`auth.test` `team_id`), the tenant of clicks and commands from guests. */
  teamId?: string | undefined;
  /** `auth.test` `enterprise_id`, the tenant when `isEnterpriseInstall` (an org-wide install). */
  enterpriseId?: string | undefined;
  isEnterpriseInstall?: boolean | undefined;
}

/**
 * Labels thread messages by author and drops the triggering message, edits/deletions and the root of an assistant
 * thread (subtype `assistant_app_thread`: its text is the thread's title, "Chats from …", not something said —
 * docs.slack.dev/reference/events/message/assistant_app_thread), so a first question there is not a follow-up.
 */
export function toContextMessages(
  thread: ThreadMessage[],
  identity: BotIdentity,
  excludeTs?: string,
): ContextMessage[] {
  const messages: ContextMessage[] = [];
  for (const message of thread) {
    if (message.ts === excludeTs) continue;
    if (message.subtype === 'message_changed' || message.subtype === 'message_deleted') continue;
    if (message.subtype === 'assistant_app_thread') continue;
    const own =
      (identity.botId !== undefined && message.botId === identity.botId) ||
      (identity.botUserId !== undefined && message.user === identity.botUserId);
    const author: ContextMessage['author'] = own ? 'deskhand' : message.botId ? 'other_bot' : 'user';
    const entry: ContextMessage = { ts: message.ts, author, text: message.text };
    if (message.user !== undefined) entry.userId = message.user;
    messages.push(entry);
  }
  return messages;
}

/** Per-message framing overhead counted on top of the text (role/name markers in a chat prompt). */
const framingTokens = 4;

/**
 * Keeps the most recent messages whose tokens fit in `maxTokens`, oldest first. When even the most recent
 * message alone does not fit, its beginning is kept, cut to the budget.
 */
export function trimThreadContext(
  messages: ContextMessage[],
  maxTokens: number,
  encoding: EncodingName = 'o200k_base',
): ContextMessage[] {
  const kept: ContextMessage[] = [];
  let used = 0;
  for (let index = messages.length - 1; index >= 0; index -= 1) {
    const message = messages[index];
    if (message === undefined) continue;
    const cost = countTokens(message.text, encoding) + framingTokens;
    if (used + cost <= maxTokens) {
      kept.push(message);
      used += cost;
      continue;
    }
    if (kept.length === 0 && maxTokens > framingTokens) {
      const cut = truncateToTokens(message.text, maxTokens - framingTokens, encoding);
      kept.push({ ...message, text: cut.text });
    }
    break;
  }
  return kept.reverse();
}
