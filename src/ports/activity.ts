/**
 * `ActivityRecorder`: where capabilities report what happened, for the admins' weekly report (issue 16, item 6) —
 * an answer posted (its kind, whether it came from the cache, the question when it found no sources, the documents
 * it cited), a ticket drafted or filed (its category), a vote on an answer and a reason given for a 👎.
 *
 * The implementation (composition injects it) keeps per-day, workspace-scoped, bounded counters; recording is best
 * effort: a caller logs a failure and carries on, so the report can never break an answer or a ticket.
 */

/** How an answer ended, as the report counts it. */
export type AnswerActivityKind =
  /** A model answer (fresh or from the response cache). */
  | 'answered'
  /** Quoted passages without a model answer (no model, over budget, model unavailable). */
  | 'passages'
  /** No document passed the relevance cutoff. */
  | 'no_sources'
  /** Nothing useful could be shown (failed, invalid question, a degraded answer without passages). */
  | 'not_answered';

export type ActivityEvent =
  | {
      kind: 'answer';
      workspaceId: string;
      outcome: AnswerActivityKind;
      fromCache: boolean;
      /** The question as asked; kept only for `no_sources` (what the report lists). */
      question: string;
      /** The documents the answer cited (each once). */
      cited: readonly { documentId: string; title: string }[];
    }
  | { kind: 'ticket_drafted' | 'ticket_filed'; workspaceId: string; category: string }
  | {
      kind: 'vote';
      workspaceId: string;
      helpful: boolean;
      /** The vote this one replaced (the same person changed their mind), if any. */
      replaced?: boolean;
    }
  | {
      kind: 'not_helpful_reason';
      workspaceId: string;
      /** A reason code (e.g. `wrong`, `outdated`, `missing_source`, `other`). */
      reason: string;
    };

export interface ActivityRecorder {
  /** Counts one event in the day of `at` (default now) of the event's workspace. */
  record(event: ActivityEvent, at?: number): Promise<void>;
}
