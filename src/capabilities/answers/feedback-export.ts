/**
 * The feedback export: one JSON line per vote on an answer of one workspace — the question as asked and as
 * searched, the answer as shown, the cited chunks (`<document id>#<chunk index>`) with their documents' titles
 * and sections, the vote, and for a 👎 its reason and note; answers in the order of their latest vote, each answer's
 * votes oldest first.
 *
 * Guarantees: only the workspace's own answers (the record's workspace, not the key, decides); memory stays
 * bounded (answers are read a page at a time, `FeedbackStore.votedAnswerIds`); voters' user ids are left out (the
 * export is for a document regression check, not for judging people); `since` filters on the vote's time.
 * `parseFeedbackLine` reads a line back (what `npm run eval:answers -- --feedback` consumes) and names what is
 * wrong with a line it cannot use.
 */
import type { FeedbackReason } from './feedback-reason.ts';
import { isFeedbackReason } from './feedback-reason.ts';
import type { FeedbackStore } from './feedback-store.ts';

export interface ExportedCitation {
  number: number;
  documentId: string;
  title: string;
  sectionPath: string[];
  chunkIds: string[];
}

export interface FeedbackExportRow {
  workspace: string;
  channel: string;
  answerId: string;
  question: string;
  /** The question as retrieval searched it (follow-ups rewritten); what a replay searches. */
  standaloneQuestion: string;
  answer: string;
  cited: ExportedCitation[];
  vote: 'helpful' | 'not_helpful';
  reason?: FeedbackReason;
  text?: string;
  /** ISO 8601: when the vote was cast. */
  at: string;
  /** ISO 8601: when the answer was given. */
  answeredAt: string;
  indexVersion?: number;
}

/** The chunk id the export and the replay compare: a document's id and the chunk's position in it. */
export const chunkIdOf = (documentId: string, chunkIndex: number) => `${documentId}#${chunkIndex}`;

export async function* exportFeedback(
  store: Pick<FeedbackStore, 'votedAnswerIds' | 'answer' | 'votesOf' | 'reasonsOf'>,
  workspaceId: string,
  options: { sinceMs?: number; untilMs?: number; pageSize?: number } = {},
): AsyncGenerator<FeedbackExportRow> {
  const sinceMs = options.sinceMs ?? 0;
  const untilMs = options.untilMs ?? Date.now();
  for await (const ids of store.votedAnswerIds(workspaceId, sinceMs, untilMs, options.pageSize)) {
    for (const answerId of ids) {
      const record = await store.answer(answerId, workspaceId);
      if (!record || record.workspaceId !== workspaceId) continue;
      const [votes, reasons] = await Promise.all([
        store.votesOf(answerId, workspaceId),
        store.reasonsOf(answerId, workspaceId),
      ]);
      const cited = record.cited.map((entry) => ({
        number: entry.number,
        documentId: entry.documentId,
        title: entry.title,
        sectionPath: entry.sectionPath ?? [],
        chunkIds: entry.chunkIndexes.map((index) => chunkIdOf(entry.documentId, index)),
      }));
      for (const vote of votes.sort((a, b) => a.at - b.at)) {
        if (vote.at < sinceMs || vote.at > untilMs) continue;
        const reason = vote.helpful ? undefined : reasons[vote.userId];
        yield {
          workspace: record.workspaceId,
          channel: record.channelId,
          answerId,
          question: record.question,
          standaloneQuestion: record.standaloneQuestion,
          answer: record.answer,
          cited,
          vote: vote.helpful ? 'helpful' : 'not_helpful',
          ...(reason ? { reason: reason.reason, ...(reason.text ? { text: reason.text } : {}) } : {}),
          at: new Date(vote.at).toISOString(),
          answeredAt: record.createdAt,
          ...(record.indexVersion !== undefined ? { indexVersion: record.indexVersion } : {}),
        };
      }
    }
  }
}

/** The fields a replay needs from an exported line. */
export type ReplayableFeedback = Pick<
  FeedbackExportRow,
  'workspace' | 'channel' | 'answerId' | 'question' | 'standaloneQuestion' | 'vote' | 'reason'
> & { cited: Pick<ExportedCitation, 'documentId' | 'title' | 'chunkIds'>[] };

const slackId = /^[A-Z][A-Z0-9]{1,40}$/;

/** One exported line, checked field by field; the error names the first field that is missing or wrong. */
export function parseFeedbackLine(line: string): { ok: true; row: ReplayableFeedback } | { ok: false; error: string } {
  if (line.length > 200_000) return { ok: false, error: 'line longer than 200,000 characters' };
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { ok: false, error: 'not a JSON object' };
  for (const field of ['workspace', 'channel'] as const) {
    if (typeof value[field] !== 'string' || !slackId.test(value[field])) {
      return { ok: false, error: `"${field}" must be a Slack id` };
    }
  }
  const question = typeof value.standaloneQuestion === 'string' ? value.standaloneQuestion : value.question;
  if (typeof question !== 'string' || question.trim() === '') return { ok: false, error: '"question" is missing' };
  if (value.vote !== 'helpful' && value.vote !== 'not_helpful') {
    return { ok: false, error: '"vote" must be "helpful" or "not_helpful"' };
  }
  if (!Array.isArray(value.cited) || value.cited.length > 50) {
    return { ok: false, error: '"cited" must be a list of at most 50 sources' };
  }
  const cited: ReplayableFeedback['cited'] = [];
  for (const entry of value.cited as Record<string, unknown>[]) {
    const chunkIds = entry?.chunkIds;
    if (
      typeof entry?.documentId !== 'string' ||
      !Array.isArray(chunkIds) ||
      chunkIds.length > 200 ||
      !chunkIds.every((id) => typeof id === 'string')
    ) {
      return { ok: false, error: '"cited" entries need "documentId" and "chunkIds"' };
    }
    cited.push({
      documentId: entry.documentId,
      title: typeof entry.title === 'string' ? entry.title : entry.documentId,
      chunkIds: chunkIds as string[],
    });
  }
  return {
    ok: true,
    row: {
      workspace: value.workspace as string,
      channel: value.channel as string,
      answerId: typeof value.answerId === 'string' ? value.answerId : '',
      question: typeof value.question === 'string' ? value.question : question,
      standaloneQuestion: question.slice(0, 4000),
      vote: value.vote,
      ...(isFeedbackReason(value.reason) ? { reason: value.reason } : {}),
      cited,
    },
  };
}
