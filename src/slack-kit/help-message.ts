/**
 * The help reply: every command with an example, the other ways in (mention prefixes, the shortcut, the
 * reaction) and, when no language model is configured, what works without one and how to add one. It is also
 * the answer to anything the router cannot place, so it says how to be explicit.
 */
import type { Block } from '../ports/messenger.ts';

export interface HelpOptions {
  /** False when `OPENAI_API_KEY` is unset: the reply says what works without a model. Default true. */
  modelConfigured?: boolean;
  /** The reaction that makes a ticket (`TICKET_REACTION`, without colons). Default `ticket`. */
  ticketReaction?: string;
}

export function helpMessage(options: HelpOptions = {}): { text: string; blocks: Block[] } {
  const modelConfigured = options.modelConfigured ?? true;
  const reaction = options.ticketReaction ?? 'ticket';
  const commands = [
    '*Here is what I can do:*',
    '• `/ask <question>` — an answer from your team’s documents, with sources. Example: `/ask How do I reset a customer’s password?`',
    `• \`/ticket <what the customer wrote>\` — a structured ticket to check and file. Example: \`/ticket Order #48213 never arrived, customer needs it by Friday\`. Also the *Create ticket* message shortcut and the :${reaction}: reaction.`,
    '• `/agent <task>` — I work on it step by step and ask before changing anything. Example: `/agent summarise this week’s billing complaints`',
    '• `/budget` — this channel’s model spend and limits. Example: `/budget` (admins: `/budget set 10`)',
    '• `/docs` — the documents I answer from. Example: `/docs add` after sharing a file, `/docs forget <doc>`',
    'Or mention me and start with what you want: `@Deskhand ask: …`, `@Deskhand ticket: …`, `@Deskhand task: …`. In a thread where I have answered, just keep talking.',
  ];
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: commands.join('\n') } }];
  let text =
    'Deskhand: /ask <question> answers from your docs, /ticket <text> makes a ticket, /agent <task> runs a task, /budget shows spend, /docs lists documents.';
  if (!modelConfigured) {
    const withoutModel = [
      '*No language model is configured*, so right now:',
      '• `/ask` and questions get the passages of your documents that match, quoted with their sources (no written answer);',
      '• `/ticket`, the shortcut and the reaction make rule-based tickets (order ids, emails, dates, urgency words);',
      '• `/budget` and `/docs` work as usual; mentions are routed by the keywords above;',
      '• `/agent` needs a model. An admin can set `OPENAI_API_KEY`, or `OPENAI_BASE_URL` plus any placeholder `OPENAI_API_KEY` for a local OpenAI-compatible server (Ollama, vLLM, llama.cpp).',
    ];
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: withoutModel.join('\n') } });
    text +=
      ' No language model is configured: answers quote matching passages, tickets are rule-based, /agent needs a model.';
  }
  return { text, blocks };
}
