/**
 * The Web API calls of Slack's assistant view and the membership check it needs, over the messenger's
 * `SlackApiCaller` (its retry policy, metrics and error translation):
 * - `setSuggestedPrompts` / `setThreadTitle` (`assistant.threads.*`, `assistant:write`, Tier 4): best effort,
 *   like the status — a failure (a 429 included, not waited out) is logged and swallowed, never thrown; at most
 *   four prompts are sent (Slack's limit), each title and message cut to a bounded length;
 * - `isChannelMember` (`conversations.members`, Tier 4): pages of 1,000 up to `maxMemberPages`; true as soon as
 *   the user is seen, false when every page was read without them, undefined when the call fails or the channel
 *   has more members than the bound (the caller fails closed).
 * Docs: docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts, …/assistant.threads.setTitle,
 * …/conversations.members.
 */
import type { Logger } from '../../observability/logger.ts';
import type { SuggestedPrompt } from '../../ports/messenger.ts';
import type { CallKind } from './slack-api-caller.ts';

/** The one call shape these need (SlackApiCaller.call with no pacing slot). */
export type AssistantCall = (
  method: string,
  kind: CallKind,
  channel: string | undefined,
  parameters: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

/** Pages of 1,000 members read at most: channels larger than this cannot be confirmed (fail closed). */
export const maxMemberPages = 5;
const maxPrompts = 4;
const maxPromptCharacters = 500;

export async function setSuggestedPrompts(
  call: AssistantCall,
  logger: Logger,
  where: { channel: string; threadTs: string },
  prompts: SuggestedPrompt[],
  title?: string,
): Promise<void> {
  try {
    await call('assistant.threads.setSuggestedPrompts', 'status', where.channel, {
      channel_id: where.channel,
      thread_ts: where.threadTs,
      prompts: prompts.slice(0, maxPrompts).map((prompt) => ({
        title: prompt.title.slice(0, maxPromptCharacters),
        message: prompt.message.slice(0, maxPromptCharacters),
      })),
      ...(title ? { title: title.slice(0, maxPromptCharacters) } : {}),
    });
  } catch (error) {
    logger.warn({ ...where, err: error }, 'could not set the suggested prompts');
  }
}

export async function setThreadTitle(
  call: AssistantCall,
  logger: Logger,
  where: { channel: string; threadTs: string },
  title: string,
): Promise<void> {
  try {
    await call('assistant.threads.setTitle', 'status', where.channel, {
      channel_id: where.channel,
      thread_ts: where.threadTs,
      title,
    });
  } catch (error) {
    logger.warn({ ...where, err: error }, 'could not set the assistant thread title');
  }
}

export async function isChannelMember(
  call: AssistantCall,
  logger: Logger,
  channel: string,
  user: string,
): Promise<boolean | undefined> {
  let cursor: string | undefined;
  try {
    for (let page = 0; page < maxMemberPages; page += 1) {
      const result = await call('conversations.members', 'read', channel, {
        channel,
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      const members = Array.isArray(result.members) ? result.members : [];
      if (members.includes(user)) return true;
      const metadata = result.response_metadata as { next_cursor?: unknown } | undefined;
      cursor =
        typeof metadata?.next_cursor === 'string' && metadata.next_cursor !== '' ? metadata.next_cursor : undefined;
      if (!cursor) return false;
    }
    logger.info({ channel, pages: maxMemberPages }, 'channel larger than the membership check reads: not confirmed');
    return undefined;
  } catch (error) {
    logger.warn({ channel, err: error }, 'could not read the channel members');
    return undefined;
  }
}
