/**
 * The feedback replay: each exported question is searched again against today's index, in the channel it was
 * asked in, and the chunks the answer cited then are compared with the passages retrieval would cite now.
 *
 * Verdicts, per answer and vote:
 * - `kept`: every chunk cited then is among today's passages;
 * - `moved`: some chunk is not, but every document cited then still is (other chunks of it: re-chunked or edited);
 * - `lost`: a document cited then is not among today's passages at all (removed, rewritten away, outranked);
 * - `no_citations`: the answer cited nothing, so there is nothing to check.
 * A helpful answer that is `lost` is the regression a team wants to hear about after re-ingesting.
 *
 * Guarantees: the same answer and vote is replayed once however many people voted; retrieval is asked for the
 * question as it was searched (`standaloneQuestion`) in the row's workspace and channel only; no model is called
 * by this module (the caller's retriever decides; the CLI passes a sparse one).
 */
import type { AnswerSource, Retriever } from './answer-source.ts';
import { chunkIdOf, type ReplayableFeedback } from './feedback-export.ts';

export type ReplayVerdict = 'kept' | 'moved' | 'lost' | 'no_citations';

export interface ReplayResult {
  answerId: string;
  question: string;
  vote: ReplayableFeedback['vote'];
  reason?: ReplayableFeedback['reason'];
  verdict: ReplayVerdict;
  /** Chunk ids cited then and retrieved now. */
  kept: string[];
  /** Chunk ids cited then and not retrieved now. */
  missing: string[];
  /** Titles of documents cited then and not retrieved now at all. */
  lostDocuments: string[];
  /** Chunk ids of today's passages. */
  now: string[];
}

export type ReplayTotals = Record<ReplayableFeedback['vote'], Record<ReplayVerdict, number>>;

/** Compares what was cited then with today's passages (pure). */
export function compareCitations(
  cited: ReplayableFeedback['cited'],
  passages: readonly Pick<AnswerSource, 'documentId' | 'chunkIndexes'>[],
): Pick<ReplayResult, 'verdict' | 'kept' | 'missing' | 'lostDocuments' | 'now'> {
  const now = passages.flatMap((passage) => passage.chunkIndexes.map((index) => chunkIdOf(passage.documentId, index)));
  const nowChunks = new Set(now);
  const nowDocuments = new Set(passages.map((passage) => passage.documentId));
  const previous = cited.flatMap((entry) => entry.chunkIds);
  const kept = previous.filter((id) => nowChunks.has(id));
  const missing = previous.filter((id) => !nowChunks.has(id));
  const lostDocuments = cited.filter((entry) => !nowDocuments.has(entry.documentId)).map((entry) => entry.title);
  const verdict: ReplayVerdict =
    cited.length === 0 ? 'no_citations' : lostDocuments.length > 0 ? 'lost' : missing.length > 0 ? 'moved' : 'kept';
  return { verdict, kept, missing, lostDocuments, now };
}

/** Replays each row (deduplicated by answer and vote) through `retrieve`, in order. */
export async function* replayFeedback(
  rows: AsyncIterable<ReplayableFeedback> | Iterable<ReplayableFeedback>,
  retrieve: Retriever,
  options: { workspaceId?: string } = {},
): AsyncGenerator<ReplayResult> {
  const done = new Set<string>();
  for await (const row of rows) {
    if (options.workspaceId && row.workspace !== options.workspaceId) continue;
    const key = `${row.answerId || row.standaloneQuestion}|${row.vote}`;
    if (done.has(key)) continue;
    done.add(key);
    const context = await retrieve({
      question: row.standaloneQuestion,
      access: { workspaceId: row.workspace, channelId: row.channel },
      callScope: { workspaceId: row.workspace, channelId: row.channel, requestId: `feedback-replay-${row.answerId}` },
      sparseOnly: true,
    });
    yield {
      answerId: row.answerId,
      question: row.question,
      vote: row.vote,
      ...(row.reason ? { reason: row.reason } : {}),
      ...compareCitations(row.cited, context.passages),
    };
  }
}

export function emptyTotals(): ReplayTotals {
  const zero = (): Record<ReplayVerdict, number> => ({ kept: 0, moved: 0, lost: 0, no_citations: 0 });
  return { helpful: zero(), not_helpful: zero() };
}

/** Adds one result to the totals (helpful and not helpful kept apart). */
export function countResult(totals: ReplayTotals, result: Pick<ReplayResult, 'vote' | 'verdict'>): ReplayTotals {
  totals[result.vote][result.verdict] += 1;
  return totals;
}
