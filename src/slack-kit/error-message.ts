/** A short, specific reason shown to the user when a request ends without a result. */
import type { OutcomeCode } from '../errors.ts';
import type { Block } from '../ports/messenger.ts';

const icons: Partial<Record<OutcomeCode, string>> = {
  over_budget: ':money_with_wings:',
  budget_unenforceable: ':warning:',
  not_authorised: ':no_entry:',
  channel_not_allowed: ':no_entry_sign:',
  not_available_yet: ':construction:',
  no_sources: ':mag:',
  invalid_input: ':pencil2:',
  input_too_large: ':pencil2:',
  unsupported_input: ':pencil2:',
};

/** Plain text plus one context block; never includes stack traces or raw upstream errors. */
export function errorMessage(code: OutcomeCode, userMessage: string): { text: string; blocks: Block[] } {
  const icon = icons[code] ?? ':warning:';
  return {
    text: userMessage,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} ${userMessage}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Reason code: \`${code}\`` }] },
    ],
  };
}
