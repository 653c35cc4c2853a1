/**
 * The demo model's agent turns. It reads the conversation so far (the goal, its own earlier tool calls and their
 * results) and takes the next step of a plausible run:
 * 1. `update_plan` (the app forces it first);
 * 2. `search_documents` for the policy that applies (a read tool: runs at once);
 * 3. when the goal asks to file or escalate, `file_ticket` with a ticket built from the customer's words (a write
 *    tool: the run pauses on an approval card);
 * 4. a final answer that reports only what the tool results say (filed, or not approved) and cites the policy.
 */
import type { FakeChatScript } from '../../test/fakes/openai-server.ts';
import { overlap, sentencesOf, termsOf, textOf, type WireMessage } from './demo-text.ts';
import { writeTicket } from './demo-ticket.ts';

const categories = ['missing_delivery', 'app_crash', 'billing', 'account_access', 'bug', 'feature_request', 'question'];

function call(name: string, args: Record<string, unknown>): FakeChatScript {
  return { content: null, toolCalls: [{ name, arguments: JSON.stringify(args) }] };
}

/** The customer's words inside a goal such as "escalate this per our policy: <message>". */
function customerText(goal: string): string {
  const instruction = /^([^:]{0,120}\b(ticket|escalate|file|handle|customer|message)\b[^:]*):\s*([\s\S]+)$/i.exec(goal);
  return (instruction?.[3] ?? goal).trim();
}

function searchQuery(ticket: ReturnType<typeof writeTicket>, goal: string): string {
  if (ticket.category === 'account_access') {
    return ticket.urgency === 'critical' ? 'suspected account takeover escalate' : 'lost two-factor device sign in';
  }
  if (ticket.category === 'missing_delivery') return 'parcel missing carrier trace escalate';
  if (ticket.category === 'billing') return 'double charge refund escalate Payments';
  return termsOf(goal).slice(0, 6).join(' ') || 'escalation policy';
}

interface Passage {
  title: string;
  text: string;
}

function passagesIn(result: string): Passage[] {
  const body = result.replace(/^<untrusted_data[^>]*>\n?|\n?<\/untrusted_data>$/g, '');
  return body
    .split(/\n\n(?=\[\d+\] )/)
    .map((block) => {
      const [head = '', ...text] = block.split('\n');
      return { title: /^\[\d+\] (.*?)(?: \([^)]*\))?$/.exec(head)?.[1] ?? head, text: text.join('\n') };
    })
    .filter((passage) => passage.text.trim() !== '');
}

/** The passage sentence that best matches the query, with its document title. */
function policyLine(result: string, query: string): { title: string; sentence: string } | undefined {
  const terms = termsOf(query);
  let best: { title: string; sentence: string; score: number } | undefined;
  for (const passage of passagesIn(result)) {
    for (const sentence of sentencesOf(passage.text)) {
      const score = overlap(terms, sentence);
      if (score > 0 && (!best || score > best.score)) best = { title: passage.title, sentence, score };
    }
  }
  return best ? { title: best.title, sentence: best.sentence } : undefined;
}

export function agentTurn(messages: WireMessage[]): FakeChatScript {
  const goal = textOf(messages.find((message) => message.role === 'user')?.content).trim();
  const calls = messages
    .filter((message) => message.role === 'assistant')
    .flatMap((message) => message.tool_calls ?? []);
  const results = new Map(
    messages
      .filter((message) => message.role === 'tool')
      .map((message) => [message.tool_call_id, textOf(message.content)]),
  );
  const called = (name: string) => calls.filter((entry) => entry.function.name === name);
  const customer = customerText(goal);
  const ticket = writeTicket(customer, categories);
  const wantsTicket = /\b(ticket|file|escalat\w*)\b/i.test(goal);
  const query = searchQuery(ticket, goal);

  if (called('update_plan').length === 0) {
    return call('update_plan', {
      steps: wantsTicket
        ? [
            'Search the handbook for the policy that applies',
            `File a ${ticket.urgency}-urgency ${ticket.category} ticket (needs approval)`,
            'Report what was done and the next step',
          ]
        : ['Search the handbook', 'Answer from what I find'],
    });
  }
  const [search] = called('search_documents');
  if (!search) return call('search_documents', { query, limit: 3 });
  const found = results.get(search.id) ?? '';
  const policy = policyLine(found, `${query} ${ticket.urgency}`);
  const cited = policy ? `${policy.sentence} (${policy.title})` : undefined;

  const [filing] = called('file_ticket');
  if (wantsTicket && !filing) {
    const description = [customer, cited ? `Policy: ${cited}` : ''].filter(Boolean).join('\n\n');
    return call('file_ticket', {
      summary: ticket.summary.slice(0, 200),
      category: ticket.category,
      urgency: ticket.urgency,
      description: description.slice(0, 4000),
      orderIds: ticket.orderIds,
      customerEmail: ticket.customerEmail,
    });
  }
  const lines: string[] = [];
  if (filing) {
    const outcome = results.get(filing.id) ?? '';
    const reference = /Filed ticket (\S+?)\.?(?:\s|$)/.exec(outcome)?.[1];
    lines.push(
      reference
        ? `Filed ticket ${reference} (${ticket.urgency} urgency, ${ticket.category}) after approval.`
        : 'I did not file the ticket: the request was not approved, so nothing was changed.',
    );
  }
  lines.push(cited ? `What the handbook says: ${cited}` : 'The handbook has nothing specific on this.');
  if (ticket.questionsToAsk.length > 0) lines.push(`Still to ask the customer: ${ticket.questionsToAsk.join(' ')}`);
  return { content: lines.join('\n') };
}
