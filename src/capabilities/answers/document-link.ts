/**
 * How a document is named in `/docs` replies: its title, escaped for mrkdwn (a `|` cannot break the link),
 * linked to its source when the source has a safe link target.
 */
import type { DocumentSummary } from '../../ports/vector-index.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import { linkTarget } from './citations.ts';

export function documentLink(document: Pick<DocumentSummary, 'title' | 'source'>): string {
  const title = escapeMrkdwn(document.title || 'Untitled document').replace(/\|/g, '¦');
  const target = linkTarget(document.source);
  return target ? `<${target}|${title}>` : `*${title}*`;
}
