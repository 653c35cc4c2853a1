/**
 * Which documents a question in an assistant thread may read: those of the channel the user is viewing, exactly
 * as if the question were asked there — or none.
 *
 * Fail-closed, in order; the first check that does not pass gives `none` with its reason:
 * 1. a viewed channel is known (the thread's stored context names a `C…`/`G…` channel);
 * 2. the context belongs to this tenant: its `team_id` is the workspace, or its `enterprise_id` is the org of an
 *    org-wide install. The event is signed by Slack, but a context naming another workspace's channel must never
 *    select that channel id's documents here;
 * 3. the user is a member of that channel (`isMember`; unknown counts as no). Slack sets the context from what the
 *    user views, but a context outlives a membership (removed from a private channel, the thread reopened later);
 * 4. Deskhand may work in that channel for this workspace (`channelAdmitted`, the channel-control seam; absent:
 *    every channel, as for mentions without channel control).
 *
 * Why `none` rather than "workspace-wide documents only" when there is no usable channel: the workspace-wide set is
 * not safe for everyone either — channel control withholds it in Slack Connect channels unless an admin allows it,
 * and a guest account may be opening the assistant. Without a channel none of those rules can be applied, so no
 * documents are read at all and the user is told how to get an answer (open the assistant from a channel).
 * Another channel's documents are never reachable: the only channel ever chosen is the verified viewed one.
 */
import type { DocumentScopeOverride } from '../../ports/capability.ts';
import type { ViewedContext } from './assistant-thread-store.ts';

export interface ViewedChannelChecks {
  /** Whether the user is a member of the channel; undefined when Slack cannot say (treated as not a member). */
  isMember(channelId: string, userId: string): Promise<boolean | undefined>;
  /**
   * Channel control (allow/deny lists): whether Deskhand may work in the channel. Wire to the work side's
   * channel control; absent: every channel.
   */
  channelAdmitted?(workspaceId: string, channelId: string): Promise<boolean>;
}

export type NoDocumentsReason =
  | 'no_viewed_channel'
  | 'other_workspace'
  | 'not_a_member'
  | 'membership_unknown'
  | 'channel_not_allowed';

/** The document scope of a question asked by `userId` in an assistant thread whose stored context is `context`. */
export async function documentScopeForViewedChannel(
  workspaceId: string,
  userId: string,
  context: ViewedContext,
  checks: ViewedChannelChecks,
): Promise<DocumentScopeOverride> {
  const none = (reason: NoDocumentsReason): DocumentScopeOverride => ({ kind: 'none', reason });
  const channelId = context.channelId;
  if (!channelId) return none('no_viewed_channel');
  if (context.teamId !== workspaceId && context.enterpriseId !== workspaceId) return none('other_workspace');
  const member = await checks.isMember(channelId, userId).catch(() => undefined);
  if (member === undefined) return none('membership_unknown');
  if (!member) return none('not_a_member');
  if (checks.channelAdmitted && !(await checks.channelAdmitted(workspaceId, channelId).catch(() => false))) {
    return none('channel_not_allowed');
  }
  return { kind: 'channel', channelId };
}
