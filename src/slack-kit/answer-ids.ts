/**
 * Every Slack id the answers capability puts on a surface, in one place, so listeners, Block Kit builders and
 * the app manifest agree. Button values carry only an answer id; the feedback store checks it against the
 * answer it recorded, so a forged or replayed value can never vote for an answer in another channel.
 */

/** Slash command that asks a question. */
export const askCommand = '/ask';

/** Slash command for the channel's documents: `/docs`, `/docs add [workspace]`, `/docs forget <doc>`. */
export const docsCommand = '/docs';

/** The feedback buttons under an answer; the button `value` is the answer id. */
export const answerActionIds = {
  helpful: 'answer_helpful',
  notHelpful: 'answer_not_helpful',
} as const;

export type AnswerActionId = (typeof answerActionIds)[keyof typeof answerActionIds];

/** Block id of the feedback button row. */
export const answerFeedbackBlockId = 'answer_feedback';

/** True when an action id is one of the answer feedback buttons (for one `app.action(/^answer_/)` registration). */
export function isAnswerActionId(actionId: string): actionId is AnswerActionId {
  return (Object.values(answerActionIds) as string[]).includes(actionId);
}
