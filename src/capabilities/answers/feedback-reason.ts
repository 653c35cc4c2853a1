/**
 * The 👎 reason picker: the modal (a radio choice of wrong / outdated / missing source / other and an optional
 * note), the parsing of its submission and the short message views it is replaced by. Pure: no Redis, no Slack.
 *
 * Guarantees: the modal stays within Block Kit's view limits (title ≤ 24, option text ≤ 75, metadata ≤ 3,000
 * characters); a submission is accepted only with one of the four reasons and a note of at most
 * `maxReasonTextLength` characters (required for "other"), otherwise each bad field gets one specific error; the
 * answer id comes from `private_metadata` and is treated as untrusted (the store checks the submitter's vote).
 */
import {
  answerReasonBlockIds,
  answerReasonInputActionId,
  answerReasonModalCallbackId,
} from '../../slack-kit/answer-ids.ts';

export const feedbackReasons = ['wrong', 'outdated', 'missing_source', 'other'] as const;
export type FeedbackReason = (typeof feedbackReasons)[number];

/** The longest note kept with a reason (Slack's input enforces it too, via `max_length`). */
export const maxReasonTextLength = 500;

const reasonLabels: Record<FeedbackReason, string> = {
  wrong: 'Wrong: the answer is incorrect',
  outdated: 'Outdated: it was true once',
  missing_source: 'Missing source: no document covers it',
  other: 'Other (say what in the note)',
};

export function isFeedbackReason(value: unknown): value is FeedbackReason {
  return typeof value === 'string' && (feedbackReasons as readonly string[]).includes(value);
}

/** What the picker remembers between the click and the submission. */
export interface ReasonModalMetadata {
  answerId: string;
}

/** A reason as given: the choice and an optional note. */
export interface GivenReason {
  reason: FeedbackReason;
  text?: string;
}

const option = (reason: FeedbackReason) => ({
  text: { type: 'plain_text', text: reasonLabels[reason] },
  value: reason,
});

/** The modal opened on 👎 (or on "Tell us why"); `current` pre-selects a reason already given. */
export function buildReasonModal(metadata: ReasonModalMetadata, current?: GivenReason): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: answerReasonModalCallbackId,
    private_metadata: JSON.stringify({ answerId: metadata.answerId.slice(0, 64) }),
    title: { type: 'plain_text', text: 'Why not helpful?' },
    submit: { type: 'plain_text', text: 'Send' },
    close: { type: 'plain_text', text: 'Skip' },
    blocks: [
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: 'Your 👎 is already counted. A reason tells the team what to fix in the documents.',
          },
        ],
      },
      {
        type: 'input',
        block_id: answerReasonBlockIds.reason,
        label: { type: 'plain_text', text: 'What was wrong with the answer?' },
        element: {
          type: 'radio_buttons',
          action_id: answerReasonInputActionId,
          options: feedbackReasons.map(option),
          ...(current ? { initial_option: option(current.reason) } : {}),
        },
      },
      {
        type: 'input',
        block_id: answerReasonBlockIds.text,
        optional: true,
        label: { type: 'plain_text', text: 'Anything to add?' },
        hint: { type: 'plain_text', text: `Optional, up to ${maxReasonTextLength} characters; required for “Other”.` },
        element: {
          type: 'plain_text_input',
          action_id: answerReasonInputActionId,
          multiline: true,
          max_length: maxReasonTextLength,
          ...(current?.text ? { initial_value: current.text.slice(0, maxReasonTextLength) } : {}),
        },
      },
    ],
  };
}

/** A one-message modal the picker is replaced by when the reason cannot be taken (why, in words). */
export function reasonMessageModal(text: string): Record<string, unknown> {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'Feedback' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } }],
  };
}

/** The answer id in the picker's metadata, or undefined when the metadata is not ours. */
export function parseReasonMetadata(raw: string): ReasonModalMetadata | undefined {
  if (raw.length > 3000) return undefined;
  try {
    const parsed = JSON.parse(raw) as { answerId?: unknown };
    return typeof parsed.answerId === 'string' ? { answerId: parsed.answerId } : undefined;
  } catch {
    return undefined;
  }
}

export type ParsedReason = { ok: true; given: GivenReason } | { ok: false; errors: Record<string, string> };

/** Reads the picker's `view.state.values`; one specific error per bad field (block id → message). */
export function parseReasonSubmission(values: Record<string, Record<string, unknown>>): ParsedReason {
  const choice = values[answerReasonBlockIds.reason]?.[answerReasonInputActionId] as
    | { selected_option?: { value?: unknown } | null }
    | undefined;
  const note = values[answerReasonBlockIds.text]?.[answerReasonInputActionId] as { value?: unknown } | undefined;
  const errors: Record<string, string> = {};
  const reason = choice?.selected_option?.value;
  if (!isFeedbackReason(reason)) errors[answerReasonBlockIds.reason] = 'Pick one of the reasons.';
  const raw = typeof note?.value === 'string' ? note.value : '';
  // A paste far beyond the limit is refused without being scanned; otherwise surrounding spaces do not count.
  const text = raw.length > 4 * maxReasonTextLength ? raw : raw.trim();
  if (text.length > maxReasonTextLength) {
    errors[answerReasonBlockIds.text] = `Keep the note to ${maxReasonTextLength} characters (it has ${raw.length}).`;
  } else if (reason === 'other' && text.length === 0) {
    errors[answerReasonBlockIds.text] = 'Say in a few words what was wrong (needed for “Other”).';
  }
  if (Object.keys(errors).length > 0 || !isFeedbackReason(reason)) return { ok: false, errors };
  return { ok: true, given: { reason, ...(text ? { text } : {}) } };
}
