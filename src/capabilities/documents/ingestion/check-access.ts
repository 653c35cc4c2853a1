/**
 * `checkAccess`: the ingestion pipeline's first check, on who may see a document.
 *
 * Guarantees: a workspace id that is not a Slack id, a scope that is neither `workspace` nor `channel:<id>`, or an
 * empty source throws `invalid_input` before anything is read or written, so a malformed input can never widen who
 * sees a document.
 */
import { DeskhandError } from '../../../errors.ts';

/**
 * Refuses a workspace id or scope that could widen who sees the document (an empty channel, a malformed scope)
 * before anything is read or written.
 */
export function checkAccess(input: { workspaceId: string; scope: string; source: string }): void {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9_-]+$/.test(input.workspaceId))
    problems.push(`workspace id "${input.workspaceId}" is not a Slack id`);
  if (input.scope !== 'workspace' && !/^channel:[A-Za-z0-9_-]+$/.test(input.scope)) {
    problems.push(`scope "${input.scope}" is neither "workspace" nor "channel:<channel id>"`);
  }
  if (input.source.trim() === '') problems.push('source is empty');
  if (problems.length > 0) {
    throw new DeskhandError('invalid_input', `Cannot ingest: ${problems.join('; ')}`, {
      userMessage: 'I could not tell who may see this document, so I did not index it.',
      details: { problems },
    });
  }
}
