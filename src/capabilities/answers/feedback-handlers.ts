/**
 * Feedback on answers after the ack: 👍 and 👎 clicks, the 👎 reason picker and its submission.
 *
 * Guarantees:
 * - a vote counts whatever happens to the picker: it is stored first, then the picker opens with the click's
 *   trigger id (the work side runs within a few milliseconds of the durable ack; Slack's trigger ids last 3 s);
 * - when the picker cannot open (trigger expired, Slack error), the voter gets the usual acknowledgement with a
 *   "Tell us why" button whose click opens it again with a fresh trigger id; the failure is logged;
 * - only a person whose current vote on the answer (in this workspace) is 👎 can open the picker or have a reason
 *   stored: checked here on open and again in the store's script on submit; button values and the modal's
 *   metadata are untrusted;
 * - a submission with a bad field gets one specific error per field inside the modal; one the store refuses
 *   replaces the modal with the reason in words and is logged; resubmitting the same reason changes nothing.
 */
import type { Logger } from '../../observability/logger.ts';
import type { Block, CapabilityOutcome } from '../../ports/capability.ts';
import type { Messenger } from '../../ports/messenger.ts';
import { answerActionIds } from '../../slack-kit/answer-ids.ts';
import { button, section } from '../../slack-kit/blocks.ts';
import type { FeedbackClick } from './answer-handlers.ts';
import { buildReasonModal, parseReasonMetadata, parseReasonSubmission, reasonMessageModal } from './feedback-reason.ts';
import { type FeedbackStore, type ReasonResult, voteAcknowledgement } from './feedback-store.ts';

export interface FeedbackHandlerDependencies {
  feedback: Pick<FeedbackStore, 'vote' | 'setReason' | 'voteOf' | 'reasonOf'>;
  messenger: Pick<Messenger, 'openView'>;
  logger?: Logger;
}

/** A feedback button click with the trigger id the picker is opened with. */
export type FeedbackButtonClick = FeedbackClick & { triggerId?: string | undefined };

/** The picker's submission, as the views listener hands it over. */
export interface ReasonSubmission {
  workspaceId: string;
  userId: string;
  privateMetadata: string;
  values: Record<string, Record<string, unknown>>;
}

/** What the views listener answers Slack: close (no response), field errors, or a replacement view. */
export type ReasonSubmissionResult =
  | { response?: { response_action: 'errors'; errors: Record<string, string> } }
  | { response: { response_action: 'update'; view: Record<string, unknown> } };

const ephemeral = (text: string, blocks?: Block[]): CapabilityOutcome => ({
  kind: 'reply',
  text,
  visibility: 'ephemeral',
  ...(blocks ? { blocks } : {}),
});

function tellUsWhy(text: string, answerId: string): CapabilityOutcome {
  return ephemeral(`${text} The reason form could not open; use “Tell us why” to give a reason.`, [
    section(`${text}\nThe reason form could not open in time.`),
    {
      type: 'actions',
      elements: [button({ actionId: answerActionIds.reason, text: 'Tell us why', value: answerId })],
    },
  ]);
}

const refusedReasons: Record<Exclude<ReasonResult, 'recorded' | 'updated' | 'unchanged'>, string> = {
  unknown_answer:
    'This feedback button belongs to no answer of this workspace that can still be rated: the answer was given in another workspace, or more than 90 days ago (feedback is kept that long).',
  not_your_vote: 'Only people whose vote on this answer is 👎 can say why. Click 👎 Not helpful first.',
};

export function createFeedbackHandlers(dependencies: FeedbackHandlerDependencies) {
  const { feedback, messenger, logger } = dependencies;

  /** Opens the picker; false (and a log entry) when Slack refused or the trigger expired. */
  async function openPicker(click: FeedbackButtonClick, answerId: string, prefill: boolean): Promise<boolean> {
    if (!click.triggerId) return false;
    try {
      const current = prefill ? await feedback.reasonOf(answerId, click.workspaceId, click.userId) : undefined;
      await messenger.openView(click.triggerId, buildReasonModal({ answerId }, current));
      return true;
    } catch (error) {
      logger?.warn(
        { err: error, code: 'slack_error', answerId, userId: click.userId, event: 'feedback_reason_picker' },
        'could not open the feedback reason picker',
      );
      return false;
    }
  }

  /** 👍 / 👎: records the vote; 👎 then opens the reason picker (or offers it again when it cannot open). */
  async function vote(click: FeedbackButtonClick): Promise<CapabilityOutcome> {
    const helpful = click.actionId === answerActionIds.helpful;
    if (!click.value || !click.channelId) return ephemeral(voteAcknowledgement('unknown_answer', helpful));
    const result = await feedback.vote({
      answerId: click.value,
      workspaceId: click.workspaceId,
      channelId: click.channelId,
      userId: click.userId,
      helpful,
    });
    logger?.info({ answerId: click.value, userId: click.userId, helpful, result }, 'answer feedback');
    const text = voteAcknowledgement(result, helpful);
    const counted = result === 'recorded' || result === 'changed' || result === 'unchanged';
    if (helpful || !counted) return ephemeral(text);
    if (await openPicker(click, click.value, result === 'unchanged')) return ephemeral(text);
    return tellUsWhy(text, click.value);
  }

  /** "Tell us why": opens the picker for a person whose vote is 👎. */
  async function reopen(click: FeedbackButtonClick): Promise<CapabilityOutcome | undefined> {
    const current = click.value ? await feedback.voteOf(click.value, click.workspaceId, click.userId) : undefined;
    if (!click.value || current !== 'not_helpful') {
      logger?.warn(
        { code: 'forbidden', answerId: click.value, userId: click.userId, event: 'feedback_reason_refused' },
        'reason picker refused: no 👎 vote by this person',
      );
      return ephemeral(refusedReasons.not_your_vote);
    }
    if (await openPicker(click, click.value, true)) return undefined;
    return tellUsWhy('Your 👎 is counted.', click.value);
  }

  /** The picker's submission: validated, then stored for the submitter only. */
  async function submit(submission: ReasonSubmission): Promise<ReasonSubmissionResult> {
    const metadata = parseReasonMetadata(submission.privateMetadata);
    if (!metadata) {
      logger?.warn(
        { code: 'invalid_input', userId: submission.userId, event: 'feedback_reason_refused' },
        'reason picker metadata is not ours',
      );
      const text = 'This form is damaged. Click 👎 Not helpful on the answer again.';
      return { response: { response_action: 'update', view: reasonMessageModal(text) } };
    }
    const parsed = parseReasonSubmission(submission.values);
    if (!parsed.ok) return { response: { response_action: 'errors', errors: parsed.errors } };
    const result = await feedback.setReason({
      answerId: metadata.answerId,
      workspaceId: submission.workspaceId,
      userId: submission.userId,
      ...parsed.given,
    });
    if (result === 'recorded' || result === 'updated' || result === 'unchanged') {
      logger?.info(
        { answerId: metadata.answerId, userId: submission.userId, reason: parsed.given.reason, result },
        'answer feedback reason',
      );
      return {};
    }
    logger?.warn(
      {
        code: 'forbidden',
        answerId: metadata.answerId,
        userId: submission.userId,
        result,
        event: 'feedback_reason_refused',
      },
      'feedback reason refused',
    );
    return { response: { response_action: 'update', view: reasonMessageModal(refusedReasons[result]) } };
  }

  return { vote, reopen, submit };
}
