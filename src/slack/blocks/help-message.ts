/** The help reply: what Deskhand can do and how to ask for it. */
import type { Block } from '../../ports/messenger.ts';

export function helpMessage(): { text: string; blocks: Block[] } {
  const lines = [
    '*Here is what I can do:*',
    '• `/ask <question>` or mention me with a question: an answer from your team’s documents, with sources.',
    '• `/ticket <description>`, the *Create ticket* message shortcut, or mention me with “ticket: …”: a structured ticket.',
    '• `/agent <task>` or mention me with “task: …”: I work on it step by step and ask before changing anything.',
    '• `/budget`: this channel’s model spend and limits. `/docs`: the documents I answer from.',
    'In a thread where I have answered, just keep talking: no need to mention me again.',
  ];
  return {
    text: 'Deskhand can answer questions from your docs (/ask), create tickets (/ticket), run tasks (/agent), and show budgets (/budget).',
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }],
  };
}
