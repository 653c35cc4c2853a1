/**
 * `/docs forget <doc>`: only a document visible from the channel can be matched, and only an admin or its
 * uploader can remove it; an unknown or ambiguous target removes nothing. Removing bumps the index version.
 */
import type { DocumentSummary } from '../../ports/vector-index.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import type { DocsDependencies, DocsReply, DocsRequester } from './docs-dependencies.ts';
import { documentLink } from './document-link.ts';

/** A user mention built only from a well-formed Slack user id (anything else is shown as plain text). */
function mentionOf(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : 'Someone';
}

export type ForgetOutcome =
  | { kind: 'forgotten'; document: DocumentSummary }
  | { kind: 'not_found' }
  | { kind: 'ambiguous'; candidates: DocumentSummary[] }
  | { kind: 'not_authorised'; document: DocumentSummary };

/**
 * `/docs forget <doc>`: finds the document among those visible from the channel (by id, exact title, or a
 * unique title prefix; case-insensitive) and removes it when the requester is an admin or its uploader.
 * Removing bumps the index version, so cached answers built on it are no longer served.
 */
export async function forgetDocument(
  requester: DocsRequester,
  target: string,
  dependencies: DocsDependencies,
): Promise<{ outcome: ForgetOutcome; reply: DocsReply }> {
  const documents = await dependencies.index.listDocuments(requester.access);
  const wanted = target.trim().toLowerCase();
  let matches = documents.filter((document) => document.documentId.toLowerCase() === wanted);
  if (matches.length === 0) matches = documents.filter((document) => document.title.toLowerCase() === wanted);
  if (matches.length === 0) {
    matches = documents.filter((document) => document.title.toLowerCase().startsWith(wanted));
  }
  if (matches.length === 0) {
    return {
      outcome: { kind: 'not_found' },
      reply: {
        visibility: 'ephemeral',
        text: `No document called “${escapeMrkdwn(target)}” is visible in this channel. \`/docs\` lists them with their ids.`,
      },
    };
  }
  if (matches.length > 1) {
    const list = matches
      .slice(0, 10)
      .map((document) => `• ${documentLink(document)} · id \`${document.documentId}\``)
      .join('\n');
    return {
      outcome: { kind: 'ambiguous', candidates: matches },
      reply: {
        visibility: 'ephemeral',
        text: `Several documents match “${escapeMrkdwn(target)}”. Forget one by its id:\n${list}`,
      },
    };
  }
  return removeDocument(requester, matches[0] as DocumentSummary, dependencies);
}

/**
 * Removes `document` when the requester is an admin or the person who added it, else removes nothing and says so
 * (logged). The one authorisation `/docs forget` and the App Home's Forget button share; removing bumps the index
 * version, so cached answers built on it are no longer served.
 */
export async function removeDocument(
  requester: Pick<DocsRequester, 'userId' | 'isAdmin'>,
  document: DocumentSummary,
  dependencies: Pick<DocsDependencies, 'index' | 'uploaders' | 'logger'>,
): Promise<{ outcome: ForgetOutcome; reply: DocsReply }> {
  const uploader = await dependencies.uploaders.uploaderOf(document.workspaceId, document.documentId);
  if (!requester.isAdmin && uploader !== requester.userId) {
    dependencies.logger?.warn(
      { userId: requester.userId, documentId: document.documentId, uploader },
      'docs forget refused: not an admin or the uploader',
    );
    return {
      outcome: { kind: 'not_authorised', document },
      reply: {
        visibility: 'ephemeral',
        text: `Only an admin or the person who added ${documentLink(document)} can remove it.`,
      },
    };
  }
  await dependencies.index.deleteDocument(document.workspaceId, document.documentId);
  await dependencies.uploaders.forget(document.workspaceId, document.documentId);
  dependencies.logger?.info(
    { userId: requester.userId, documentId: document.documentId, workspaceId: document.workspaceId },
    'document forgotten',
  );
  return {
    outcome: { kind: 'forgotten', document },
    reply: {
      visibility: 'in_channel',
      text: `${mentionOf(requester.userId)} removed ${documentLink(document)}; I will no longer answer from it.`,
    },
  };
}
