/**
 * Where Deskhand works (issue 15), as a pure decision over a workspace's channel settings
 * (`WorkspaceSettings['channels']`, src/ports/workspace-settings.ts).
 *
 * Guarantees:
 * - `all` admits every channel; `allow` only the listed ones; `deny` every channel but the listed ones;
 * - exempt whatever the mode: direct messages and the App Home's messages tab (ids `D…`: a conversation between
 *   one person and Deskhand, which no channel list names) and `/budget` (a read of spend and limits, no model call,
 *   which people need most in a channel that was switched off for cost). Buttons and modals on cards already
 *   posted never reach this decision: the work they continue was admitted when it started, and cutting it off
 *   would strand pending approvals and half-made tickets;
 * - a refusal says, in one sentence, that Deskhand is off here and who can change it: the workspace's Deskhand
 *   admins by name when the settings list them;
 * - a plain mention in an admitted channel gets the channel's default meaning (`auto` when the channel is not
 *   listed in `mentionDefaults`).
 */
import type { IncomingRequest, Route } from '../ports/capability.ts';
import type { ChannelPolicy, MentionDefault } from '../ports/workspace-settings.ts';
import { commands } from '../slack-kit/ids.ts';

export type ChannelAdmission =
  | { admitted: true; mentionDefault: MentionDefault }
  | { admitted: false; userMessage: string; mode: ChannelPolicy['mode'] };

/** True for requests the channel settings never refuse (see the module comment). */
export function isExemptFromChannelPolicy(request: Pick<IncomingRequest, 'origin' | 'channelId' | 'command'>): boolean {
  if (request.channelId.startsWith('D')) return true;
  return request.origin === 'command' && request.command === commands.budget;
}

/** True when `mode` and `channels` let Deskhand work in `channelId` (exemptions aside). */
export function channelIsOpen(policy: Pick<ChannelPolicy, 'mode' | 'channels'>, channelId: string): boolean {
  if (policy.mode === 'all') return true;
  const listed = policy.channels.includes(channelId);
  return policy.mode === 'allow' ? listed : !listed;
}

/** Whether a request may be handled in its channel and, if so, what a plain mention there means. */
export function admitToChannel(
  policy: ChannelPolicy,
  admins: readonly string[],
  request: Pick<IncomingRequest, 'origin' | 'channelId' | 'command'>,
): ChannelAdmission {
  const mentionDefault = policy.mentionDefaults[request.channelId] ?? 'auto';
  if (isExemptFromChannelPolicy(request) || channelIsOpen(policy, request.channelId)) {
    return { admitted: true, mentionDefault };
  }
  return { admitted: false, userMessage: channelClosedMessage(admins), mode: policy.mode };
}

/** The explanation a refused request gets (the Slack user ids are rendered as mentions by Slack). */
export function channelClosedMessage(admins: readonly string[]): string {
  const named = admins.slice(0, 5).map((id) => `<@${id}>`);
  const who =
    named.length === 0
      ? "this workspace's admins"
      : `one of this workspace's Deskhand admins (${named.join(', ')}${admins.length > named.length ? ', …' : ''})`;
  return `Deskhand is not switched on in this channel, so I did nothing with that. To use it here, ask ${who} to allow this channel in Deskhand's settings.`;
}

/** The route a channel's default sends a plain mention to; undefined for `auto` (the usual routing). */
export function routeOfMentionDefault(mentionDefault: MentionDefault): Route | undefined {
  if (mentionDefault === 'auto') return undefined;
  return mentionDefault === 'agent' ? 'task' : mentionDefault;
}
