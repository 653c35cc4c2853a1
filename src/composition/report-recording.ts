/**
 * Where the weekly report's activity is recorded: the stores the answers and tickets capabilities already write at
 * the moment something happens, each wrapped so that a successful write also counts the event in the workspace's
 * day (`ActivityRecorder`, src/capabilities/report/activity-store.ts). Capabilities do not import each other, so the
 * report reaches them here, in composition, without either capability knowing about it.
 *
 * - An answer is counted when it is recorded for feedback (right after it is posted: a model answer, from the cache
 *   or not, or quoted passages) or counted as a question without sources; a failed answer is not an answer given.
 *   Its cited documents are counted once each.
 * - A vote is counted when the feedback store accepts it (`recorded`, or `changed`, which moves one count from the
 *   other side); a repeated or refused click counts nothing. A voter's first reason for a 👎 is counted by its code
 *   (wrong, outdated, missing source, other); a changed reason is not counted again.
 * - A ticket is counted as drafted when its draft is stored, and as filed when it is marked filed — once per draft,
 *   whoever's click filed it (the store's compare-and-set decides).
 * Recording is best effort: a failure is logged and the capability's own result is returned unchanged.
 */
import {
  type AnswerRecord,
  FeedbackStore,
  type Vote,
  type VoteResult,
} from '../capabilities/answers/feedback-store.ts';
import { UnansweredQuestions } from '../capabilities/answers/unanswered-questions.ts';
import { type DraftChange, type TicketDraft, TicketStore } from '../capabilities/tickets/ticket-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ActivityEvent, ActivityRecorder, AnswerActivityKind } from '../ports/activity.ts';

type Record_ = (event: ActivityEvent) => Promise<void>;

/** Records `event`, logging a failure instead of throwing. */
function recorder(activity: ActivityRecorder, logger: Logger | undefined): Record_ {
  return (event) =>
    activity.record(event).catch((error: unknown) => {
      logger?.warn(
        { err: error, workspaceId: event.workspaceId, event: event.kind },
        'could not record report activity',
      );
    });
}

/** The answer kind the report counts for a recorded answer. */
export function answerActivityOf(record: Pick<AnswerRecord, 'kind' | 'answer'>): AnswerActivityKind {
  if (record.kind === 'answered') return 'answered';
  if (record.kind === 'no_sources') return 'no_sources';
  if (record.kind === 'without_model') return 'passages';
  return record.answer ? 'passages' : 'not_answered';
}

/** A feedback store whose recorded answers and accepted votes are also counted for the report. */
export class ReportingFeedbackStore extends FeedbackStore {
  readonly #record: Record_;

  constructor(
    redis: ConstructorParameters<typeof FeedbackStore>[0],
    options: ConstructorParameters<typeof FeedbackStore>[1],
    activity: ActivityRecorder,
    logger?: Logger,
  ) {
    super(redis, options);
    this.#record = recorder(activity, logger);
  }

  override async recordAnswer(
    ...args: Parameters<FeedbackStore['recordAnswer']>
  ): ReturnType<FeedbackStore['recordAnswer']> {
    const record = await super.recordAnswer(...args);
    const cited = new Map(record.cited.map((entry) => [entry.documentId, entry.title]));
    await this.#record({
      kind: 'answer',
      workspaceId: record.workspaceId,
      outcome: answerActivityOf(record),
      fromCache: record.fromCache,
      question: record.question,
      cited: [...cited].map(([documentId, title]) => ({ documentId, title })),
    });
    return record;
  }

  override async vote(vote: Vote, now?: number): Promise<VoteResult> {
    const result = await super.vote(vote, now);
    if (result === 'recorded' || result === 'changed') {
      await this.#record({
        kind: 'vote',
        workspaceId: vote.workspaceId,
        helpful: vote.helpful,
        ...(result === 'changed' ? { replaced: true } : {}),
      });
    }
    return result;
  }

  /** A first reason for a 👎 is counted (a voter changing their reason later counts nothing more). */
  override async setReason(...args: Parameters<FeedbackStore['setReason']>): ReturnType<FeedbackStore['setReason']> {
    const result = await super.setReason(...args);
    const [input] = args;
    if (result === 'recorded') {
      await this.#record({ kind: 'not_helpful_reason', workspaceId: input.workspaceId, reason: input.reason });
    }
    return result;
  }
}

/** The record of questions without sources, also counting each one as an answer of the day for the report. */
export class ReportingUnansweredQuestions extends UnansweredQuestions {
  readonly #record: Record_;

  constructor(
    redis: ConstructorParameters<typeof UnansweredQuestions>[0],
    options: ConstructorParameters<typeof UnansweredQuestions>[1],
    activity: ActivityRecorder,
    logger?: Logger,
  ) {
    super(redis, options);
    this.#record = recorder(activity, logger);
  }

  override async record(workspaceId: string, question: string): Promise<void> {
    await super.record(workspaceId, question);
    await this.#record({ kind: 'answer', workspaceId, outcome: 'no_sources', fromCache: false, question, cited: [] });
  }
}

/** A ticket store whose stored drafts and filed tickets are also counted, by category, for the report. */
export class ReportingTicketStore extends TicketStore {
  readonly #record: Record_;

  constructor(
    redis: ConstructorParameters<typeof TicketStore>[0],
    options: ConstructorParameters<typeof TicketStore>[1],
    activity: ActivityRecorder,
    logger?: Logger,
  ) {
    super(redis, options);
    this.#record = recorder(activity, logger);
  }

  override async create(draft: TicketDraft): Promise<boolean> {
    const created = await super.create(draft);
    if (created) {
      await this.#record({ kind: 'ticket_drafted', workspaceId: draft.workspaceId, category: draft.ticket.category });
    }
    return created;
  }

  override async markFiled(...args: Parameters<TicketStore['markFiled']>): Promise<DraftChange> {
    const change = await super.markFiled(...args);
    if (change.ok) {
      await this.#record({
        kind: 'ticket_filed',
        workspaceId: change.draft.workspaceId,
        category: change.draft.ticket.category,
      });
    }
    return change;
  }
}
