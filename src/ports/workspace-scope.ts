/**
 * The workspace the current work acts for, carried by `AsyncLocalStorage` through every await, timer and
 * promise started inside the scope. With OAuth distribution each workspace has its own bot token, and the
 * Messenger (and anything else that calls Slack) must use the token of the workspace the work belongs to — but
 * the Messenger port's methods name a channel, not a workspace, and threading a workspace id through every
 * capability's Slack call would touch all of them. So the work side enters a scope once per request
 * (`withWorkspace(request.workspaceId, …)`) and the Slack adapter reads it (`currentWorkspace()`).
 * Work started outside any request (a queue worker's job, a sweep) enters the scope of the workspace it acts for.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<string>();

/** Runs `work` acting for `workspaceId` (a tenant id: `T…`, or `E…` for an org-wide install). */
export function withWorkspace<T>(workspaceId: string, work: () => T): T {
  return scope.run(workspaceId, work);
}

/** The workspace the current work acts for, or undefined outside any scope. */
export function currentWorkspace(): string | undefined {
  return scope.getStore();
}
