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
  /** "Tell us why": reopens the reason picker when it could not open on the 👎 click itself. */
  reason: 'answer_feedback_reason',
} as const;

export type AnswerActionId = (typeof answerActionIds)[keyof typeof answerActionIds];

/** Block id of the feedback button row. */
export const answerFeedbackBlockId = 'answer_feedback';

/** The 👎 reason picker (`views.answerFeedbackReason` in ids.ts); `private_metadata` carries the answer id. */
export const answerReasonModalCallbackId = 'answer_feedback_reason';

/** Block ids of the reason picker's two inputs (`response_action: errors` names them). */
export const answerReasonBlockIds = { reason: 'answer_reason_choice', text: 'answer_reason_text' } as const;

/** The action id of each input of the reason picker (one input per block). */
export const answerReasonInputActionId = 'value';

/** True when an action id is one of the answer feedback buttons (for one `app.action(/^answer_/)` registration). */
export function isAnswerActionId(actionId: string): actionId is AnswerActionId {
  return (Object.values(answerActionIds) as string[]).includes(actionId);
}
