/**
 * Membership in the approver user group (`APPROVER_USER_GROUP_ID`, or the one a workspace's settings name), for the
 * approval store's policy.
 *
 * Guarantees:
 * - One member lookup per workspace per `ttlMs` (default 60 s; concurrent checks share one lookup), so a burst
 *   of clicks does not hit `usergroups.users.list`'s rate limit.
 * - Fails closed: a lookup that fails is never cached and the check throws a `DeskhandError`
 *   (`upstream_unavailable`), which the approval store turns into "could not verify" — never into an approval.
 */
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';

/** The members (user ids) of a user group, e.g. Slack's `usergroups.users.list`. Throws when it cannot tell. */
export type ListUserGroupMembers = (groupId: string, workspaceId: string) => Promise<readonly string[]>;

export function createApproverGroupCheck(options: {
  groupId: string;
  listMembers: ListUserGroupMembers;
  logger: Logger;
  ttlMs?: number;
  now?: () => number;
}): (userId: string, workspaceId: string) => Promise<boolean> {
  const isInGroup = createUserGroupMembership(options);
  return (userId, workspaceId) => isInGroup(userId, workspaceId, options.groupId);
}

/**
 * Membership in any user group of any workspace (each workspace's settings may name its own approver group), with
 * the same cache, sharing and fail-closed rules, per (workspace, group).
 */
export function createUserGroupMembership(options: {
  listMembers: ListUserGroupMembers;
  logger: Logger;
  ttlMs?: number;
  now?: () => number;
  /** Most (workspace, group) pairs kept; the oldest go first. Default 10,000. */
  maxEntries?: number;
}): (userId: string, workspaceId: string, groupId: string) => Promise<boolean> {
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { members: Set<string>; expiresAt: number }>();
  const inFlight = new Map<string, Promise<Set<string>>>();

  const members = (workspaceId: string, groupId: string): Promise<Set<string>> => {
    const key = `${workspaceId}|${groupId}`;
    const cached = cache.get(key);
    if (cached && cached.expiresAt > now()) return Promise.resolve(cached.members);
    const running = inFlight.get(key);
    if (running) return running;
    const lookup = options
      .listMembers(groupId, workspaceId)
      .then((list) => {
        const set = new Set(list);
        cache.delete(key);
        cache.set(key, { members: set, expiresAt: now() + ttlMs });
        while (cache.size > maxEntries) {
          const oldest = cache.keys().next().value;
          if (oldest === undefined) break;
          cache.delete(oldest);
        }
        return set;
      })
      .catch((error: unknown) => {
        const coded = toDeskhandError(error);
        options.logger.warn(
          { err: coded, code: coded.code, groupId, workspaceId },
          'approver group lookup failed; denying',
        );
        throw new DeskhandError('upstream_unavailable', `Could not list the members of ${groupId}`, {
          cause: error,
          retryable: true,
          userMessage: 'I could not verify membership of the approver group.',
        });
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, lookup);
    return lookup;
  };

  return async (userId, workspaceId, groupId) => (await members(workspaceId, groupId)).has(userId);
}
