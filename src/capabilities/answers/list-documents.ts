/**
 * `/docs` (list): the documents visible from the channel, newest first, at most 40, in sections that stay
 * within Slack's block text limit. The reply is ephemeral.
 */
import type { Block } from '../../ports/messenger.ts';
import type { AccessScope, DocumentScope } from '../../ports/vector-index.ts';
import type { DocsDependencies, DocsReply, DocsRequester } from './docs-dependencies.ts';
import { documentLink } from './document-link.ts';

function scopeLabel(scope: DocumentScope, access: AccessScope): string {
  if (scope === 'workspace') return 'all channels';
  return scope === `channel:${access.channelId}` ? 'this channel' : 'another channel';
}

/** `/docs`: the documents visible from the channel, newest first, within Slack's block limits. */
export async function listDocuments(requester: DocsRequester, dependencies: DocsDependencies): Promise<DocsReply> {
  const documents = await dependencies.index.listDocuments(requester.access);
  if (documents.length === 0) {
    return {
      visibility: 'ephemeral',
      text: 'This channel has no documents yet. Share a file here and run `/docs add`, or mention me when you share it.',
    };
  }
  const sorted = [...documents].sort((left, right) => right.ingestedAt.localeCompare(left.ingestedAt));
  const shown = sorted.slice(0, 40);
  const lines = shown.map(
    (document) =>
      `• ${documentLink(document)} — ${scopeLabel(document.scope, requester.access)}, ${document.chunkCount} chunks, added ${document.ingestedAt.slice(0, 10)} · id \`${document.documentId}\``,
  );
  if (sorted.length > shown.length) lines.push(`_…and ${sorted.length - shown.length} more._`);
  const blocks: Block[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*Documents this channel can see (${documents.length})*` } },
  ];
  let current: string[] = [];
  let length = 0;
  for (const line of lines) {
    if (length + line.length + 1 > 2900 && current.length > 0) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: current.join('\n') } });
      current = [];
      length = 0;
    }
    current.push(line);
    length += line.length + 1;
  }
  if (current.length > 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: current.join('\n') } });
  return { visibility: 'ephemeral', text: `${documents.length} documents visible in this channel.`, blocks };
}
