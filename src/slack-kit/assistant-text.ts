/**
 * What Deskhand says in Slack's assistant view: the suggested prompts a new assistant thread shows (also listed
 * in the manifest's `features.assistant_view`, which a test keeps equal to these), the thread title made from the
 * first question, and why a question there reads no documents.
 *
 * Guarantees:
 * - at most four prompts (Slack shows up to four), each starting with the prefix the router's rules understand
 *   (`ask:`, `ticket:`, `agent:`) or a capability question, so a click needs no classification call;
 * - `assistantThreadTitle` is one line of at most `maxTitleCharacters` characters, control characters removed,
 *   `&`, `<`, `>` escaped (no mention, broadcast or link can be made of it), and never empty;
 * - `noDocumentsMessage` names no id and repeats nothing from the request.
 */
import { escapeMrkdwn, truncate } from './mrkdwn.ts';

export interface SuggestedPrompt {
  /** What the button shows. */
  title: string;
  /** What is sent as the user's message when it is clicked. */
  message: string;
}

export const suggestedPromptsTitle = 'Try one of these';

export const assistantSuggestedPrompts: readonly SuggestedPrompt[] = [
  { title: "Ask this channel's documents", message: 'ask: How do I reset a customer’s password?' },
  { title: 'Turn a report into a ticket', message: 'ticket: Customer 4411 cannot log in since the update' },
  { title: 'Give the agent a task', message: 'agent: Find open tickets about billing and summarise them' },
  { title: 'What can you do?', message: 'What can you do?' },
];

export const maxTitleCharacters = 60;

/** The assistant thread's title from its first question (see the module comment for the guarantees). */
export function assistantThreadTitle(question: string): string {
  // Bounded before any work: only the first characters can appear in the title.
  const head = question.slice(0, maxTitleCharacters * 4);
  let line = '';
  for (const character of head) {
    const code = character.codePointAt(0) ?? 0;
    const control = code < 0x20 || (code >= 0x7f && code < 0xa0) || code === 0x2028 || code === 0x2029;
    line += control ? ' ' : character;
  }
  const collapsed = line.replace(/\s+/g, ' ').trim();
  if (!collapsed) return 'Question for Deskhand';
  return truncate(escapeMrkdwn(collapsed), maxTitleCharacters);
}

/** What the user is told when a question in the assistant view reads no documents, by reason. */
export function noDocumentsMessage(reason: string): string {
  switch (reason) {
    case 'no_viewed_channel':
      return "I answer from the documents of the channel you're viewing, and I can't tell which channel that is. Open a channel, then ask me again from the assistant panel.";
    case 'not_a_member':
    case 'membership_unknown':
      return "I only search the documents of a channel you're a member of, and I couldn't confirm that for the channel you're viewing. Open a channel you're in and ask again.";
    case 'channel_not_allowed':
      return "Your workspace's admins haven't enabled Deskhand in the channel you're viewing, so I won't search its documents. Open another channel and ask again.";
    default:
      return "I can't tell which of this workspace's channels you're viewing, so I won't search any documents. Open a channel and ask again.";
  }
}
