/**
 * The App Home's Forget button next to a document. The button's value (a document id) is untrusted: the document is
 * looked up in the clicker's own workspace only (the tenant comes from the click, never the value), and it is removed
 * only when the clicker is an admin of that workspace (its settings) or the person who added it — the same check as
 * `/docs forget` (`removeDocument`). The result is a short notice for the clicker's refreshed Home.
 */
import type { Logger } from '../../observability/logger.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';
import { escapeMrkdwn, truncate } from '../../slack-kit/mrkdwn.ts';
import { removeDocument } from './forget-document.ts';
import type { UploaderStore } from './uploader-store.ts';

export interface ForgetFromHomeDependencies {
  index: Pick<VectorIndex, 'getDocument' | 'deleteDocument' | 'listDocuments'>;
  uploaders: UploaderStore;
  /** Whether the clicker administers the workspace (its settings, read on the work side). */
  isAdmin: (workspaceId: string, userId: string) => Promise<boolean>;
  logger?: Logger;
}

/** What the Home's Forget click reads (a subset of the listeners' `ActionRequest`). */
export interface ForgetClick {
  /** Untrusted: a document id to look up in the clicker's workspace. */
  value: string | undefined;
  workspaceId: string;
  userId: string;
}

const documentIdPattern = /^[A-Za-z0-9_-]{1,100}$/;

/** Forgets the clicked document when allowed; resolves with the notice the clicker's Home shows. */
export function createForgetFromHomeHandler(dependencies: ForgetFromHomeDependencies) {
  return async (click: ForgetClick): Promise<{ notice: string }> => {
    const documentId = click.value ?? '';
    const document = documentIdPattern.test(documentId)
      ? await dependencies.index.getDocument(click.workspaceId, documentId)
      : undefined;
    if (!document || document.workspaceId !== click.workspaceId) {
      dependencies.logger?.warn(
        { workspaceId: click.workspaceId, userId: click.userId, documentId: truncate(documentId, 100) },
        'forget from the App Home: no such document in this workspace',
      );
      return { notice: 'That document is already gone.' };
    }
    const isAdmin = await dependencies.isAdmin(click.workspaceId, click.userId);
    const { outcome } = await removeDocument({ userId: click.userId, isAdmin }, document, dependencies);
    const title = `“${escapeMrkdwn(truncate(document.title || 'Untitled document', 150))}”`;
    return outcome.kind === 'forgotten'
      ? { notice: `Forgotten: ${title}. I will no longer answer from it.` }
      : { notice: `Only an admin or the person who added ${title} can forget it.` };
  };
}
