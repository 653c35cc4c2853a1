/**
 * The "Get a human" offer on an answer: the hand-over record of an outcome (question, the answer as shown, the
 * cited sources' titles, sections and links, the asker, channel and thread) stored before the final message is
 * posted, so the button under it always has a record behind it.
 *
 * Guarantees: every outcome but an invalid (empty) question is offered, no-sources and failed ones included; only
 * metadata our ingestion wrote is kept about sources (never document text); a record that cannot be stored is
 * logged and the message goes out without the button (never a button that cannot work).
 */
import type { Logger } from '../../observability/logger.ts';
import type { CapabilityRequest } from '../../ports/capability.ts';
import type { HandOverRecord, HandOverRecorder, HandOverSource } from '../../ports/hand-over.ts';
import type { AnswerOutcome } from './answer-outcome.ts';
import { type CitedSource, describeLocation, linkTarget } from './citations.ts';

function sourceOf(cited: CitedSource): HandOverSource {
  const location = describeLocation(cited.source);
  const link = linkTarget(cited.source.source);
  return { title: cited.source.title, ...(location ? { location } : {}), ...(link ? { link } : {}) };
}

/** What was shown and cited for each outcome; undefined for an invalid question (nothing to hand over). */
function shown(outcome: AnswerOutcome): { answer: string; cited: readonly CitedSource[] } | undefined {
  switch (outcome.kind) {
    case 'answered':
      return { answer: outcome.markdown, cited: outcome.cited };
    case 'without_model':
      return { answer: outcome.extractive.markdown, cited: outcome.extractive.cited };
    case 'over_budget':
    case 'upstream_unavailable':
      return outcome.extractive
        ? { answer: `${outcome.userMessage}\n\n${outcome.extractive.markdown}`, cited: outcome.extractive.cited }
        : { answer: outcome.userMessage, cited: [] };
    case 'no_sources':
    case 'failed':
      return { answer: outcome.userMessage, cited: [] };
    case 'invalid_question':
      return undefined;
  }
}

/** The record for an outcome, or undefined when there is nothing to hand over. */
export function answerHandOverRecord(
  request: Pick<CapabilityRequest, 'workspaceId' | 'channelId' | 'userId'>,
  threadTs: string | undefined,
  outcome: AnswerOutcome,
  now: Date,
): HandOverRecord | undefined {
  const content = shown(outcome);
  if (!content) return undefined;
  return {
    id: outcome.answerId,
    kind: 'answer',
    workspaceId: request.workspaceId,
    channelId: request.channelId,
    ...(threadTs ? { threadTs } : {}),
    askerId: request.userId,
    question: outcome.question,
    answer: content.answer,
    outcome: outcome.kind,
    sources: content.cited.map(sourceOf),
    createdAt: now.toISOString(),
  };
}

/** Stores the record; the hand-over id for the button, or undefined (no recorder, nothing to offer, or a failure). */
export async function offerHandOver(
  recorder: HandOverRecorder | undefined,
  record: HandOverRecord | undefined,
  logger: Logger | undefined,
): Promise<string | undefined> {
  if (!recorder || !record) return undefined;
  try {
    await recorder.record(record);
    return record.id;
  } catch (error) {
    logger?.warn({ err: error, answerId: record.id }, 'could not record the hand-over; no "Get a human" button');
    return undefined;
  }
}
