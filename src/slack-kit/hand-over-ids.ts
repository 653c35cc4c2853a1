/**
 * The "Get a human" button shared by answers and agent runs. Its value is only the hand-over id (an answer id
 * or a run id); the tickets capability looks the record up in the clicker's workspace and channel, so a forged
 * value can never file someone else's conversation.
 */
import { button } from './blocks.ts';

export const handOverActionId = 'hand_over';

/** Block id of the row that holds the button when the message has no other buttons. */
export const handOverBlockId = 'hand_over';

export const handOverButtonText = '🙋 Get a human';

/** The button element, for an `actions` block. */
export function handOverButton(handOverId: string): Record<string, unknown> {
  return button({ actionId: handOverActionId, text: handOverButtonText, value: handOverId });
}

/** An `actions` block holding only the button. */
export function handOverActions(handOverId: string): { type: 'actions'; block_id: string; elements: unknown[] } {
  return { type: 'actions', block_id: handOverBlockId, elements: [handOverButton(handOverId)] };
}
