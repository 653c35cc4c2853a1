/**
 * The demo responder: plugged into `FakeOpenAIServer` (`respond`), it answers each chat request the app makes
 * the way a plausible model would, reading only the request:
 * - route classification (`json_schema` named `route`) → one of the enum's routes, from cues in the message;
 * - ticket extraction (`json_schema` with a `category` enum) → a schema-valid ticket from the customer text;
 * - answers (the `<sources>`/`<question>` prompt) → the best-matching source sentences, each cited `[n]`;
 * - follow-up rewrites, thread summaries, and agent turns (`demo-agent.ts`: plan, search, file, finish).
 * Anything else returns undefined, so the fake's default ("OK", or a minimal schema value) applies.
 */
import type { FakeChatScript } from '../../test/fakes/openai-server.ts';
import { agentTurn } from './demo-agent.ts';
import { cite, overlap, sentencesOf, termsOf, textOf, unescapeData, type WireMessage } from './demo-text.ts';
import { writeTicket } from './demo-ticket.ts';

type Body = Record<string, unknown>;

interface JsonSchemaFormat {
  type?: string;
  json_schema?: { name?: string; schema?: Record<string, unknown> };
}

export function demoResponder(body: Body): FakeChatScript | undefined {
  const messages = (body.messages as WireMessage[] | undefined) ?? [];
  const system = textOf(messages.find((message) => message.role === 'system')?.content);
  const lastUser = textOf(messages.filter((message) => message.role === 'user').at(-1)?.content);
  const tools = (body.tools as Array<{ function?: { name?: string } }> | undefined) ?? [];
  if (tools.some((tool) => tool.function?.name === 'update_plan')) return agentTurn(messages);
  const format = body.response_format as JsonSchemaFormat | undefined;
  if (format?.type === 'json_schema') {
    const schema = format.json_schema?.schema ?? {};
    if (format.json_schema?.name === 'route') return json({ route: classify(lastUser, enumOf(schema, 'route')) });
    const categories = enumOf(schema, 'category');
    if (categories.length > 0) return json(ticketFor(lastUser, categories));
    return undefined;
  }
  if (lastUser.includes('<sources>') && lastUser.includes('<question>')) return { content: answer(lastUser) };
  if (system.startsWith('You rewrite a follow-up question')) return { content: rewrite(lastUser) };
  if (system.startsWith('Summarise the Slack thread')) return { content: summarise(lastUser) };
  return undefined;
}

function json(value: unknown): FakeChatScript {
  return { content: JSON.stringify(value) };
}

/** The enum of a top-level property, looking through `anyOf` (nullable fields). */
function enumOf(schema: Record<string, unknown>, property: string): string[] {
  const node = (schema.properties as Record<string, Record<string, unknown>> | undefined)?.[property];
  if (!node) return [];
  if (Array.isArray(node.enum)) return node.enum.filter((value): value is string => typeof value === 'string');
  for (const variant of (node.anyOf as Record<string, unknown>[] | undefined) ?? []) {
    if (Array.isArray(variant.enum)) return variant.enum.filter((value): value is string => typeof value === 'string');
  }
  return [];
}

// --- routing ------------------------------------------------------------------------------------------------------

function classify(text: string, routes: readonly string[]): string {
  const message = text.replace(/<@[A-Z0-9]+>/g, '').trim();
  const pick = (route: string) => (routes.includes(route) ? route : (routes.at(-1) ?? 'help'));
  if (/^(hi|hello|hey|thanks|thank you|good (morning|afternoon))\b[\s!.,]*$/i.test(message)) return pick('help');
  if (/\bwhat can you do\b|\bhelp\b/i.test(message) && message.length < 40) return pick('help');
  if (/^(please\s+)?(file|open|create|escalate|summari[sz]e|look up|find|check|draft|go through)\b/i.test(message)) {
    return pick('task');
  }
  if (
    /\b[A-Z]{2,4}-\d{4,}\b/.test(message) ||
    /\b(customer (says|reports|writes)|hasn'?t arrived|never arrived|charged twice|can'?t (sign|log) in|crash)/i.test(
      message,
    )
  ) {
    return pick('ticket');
  }
  if (/\?\s*$/.test(message) || /^(how|what|when|where|why|which|who|can|do|does|is|are|should)\b/i.test(message)) {
    return pick('question');
  }
  return pick('help');
}

// --- tickets ------------------------------------------------------------------------------------------------------

function ticketFor(userContent: string, categories: readonly string[]) {
  let input: { text?: string; message_time?: string } = {};
  try {
    input = JSON.parse(userContent) as typeof input;
  } catch {
    input = { text: userContent };
  }
  const time = input.message_time ? new Date(input.message_time) : new Date();
  return writeTicket(input.text ?? '', categories, Number.isNaN(time.getTime()) ? new Date() : time);
}

// --- answers ------------------------------------------------------------------------------------------------------

interface PromptSource {
  id: number;
  title: string;
  section: string;
  text: string;
}

function sourcesIn(prompt: string): PromptSource[] {
  const sources: PromptSource[] = [];
  const pattern = /<source id="(\d+)" title="([^"]*)"(?: section="([^"]*)")?>\n([\s\S]*?)\n<\/source>/g;
  for (const match of prompt.matchAll(pattern)) {
    sources.push({
      id: Number(match[1]),
      title: unescapeData(match[2] ?? ''),
      section: unescapeData(match[3] ?? ''),
      text: unescapeData(match[4] ?? ''),
    });
  }
  return sources;
}

/**
 * Picks up to three sentences that share the most terms with the question (a source whose title or section
 * matches counts extra; numbers count extra for "how long / how fast / when" questions) and cites each.
 */
function answer(prompt: string): string {
  const question = unescapeData(/<question>\n?([\s\S]*?)\n?<\/question>/.exec(prompt)?.[1] ?? '');
  const terms = termsOf(question);
  const wantsNumber = /\b(how (long|fast|many|much|soon)|when|within|deadline|time)\b/i.test(question);
  const scored: Array<{ source: PromptSource; sentence: string; position: number; score: number }> = [];
  const sentences = new Map<number, string[]>();
  for (const source of sourcesIn(prompt)) {
    const headingBonus = overlap(terms, `${source.title} ${source.section}`) * 0.5;
    sentences.set(source.id, sentencesOf(source.text));
    sentences.get(source.id)?.forEach((sentence, position) => {
      const hits = overlap(terms, sentence);
      const duration = /\d+\s*(to \d+\s*)?(business )?(minutes?|hours?|days?|weeks?)\b/.test(sentence);
      const numberBonus = wantsNumber && duration ? 1.5 : 0;
      if (hits === 0 && !(headingBonus > 0 && numberBonus > 0)) return;
      // A section's opening sentence usually states its rule; the rest qualifies it.
      const openingBonus = position === 0 ? 0.5 : 0;
      scored.push({ source, sentence, position, score: hits + headingBonus + numberBonus + openingBonus });
    });
  }
  if (scored.length === 0) {
    return 'The provided documents do not answer this question.';
  }
  scored.sort(
    (left, right) => right.score - left.score || left.source.id - right.source.id || left.position - right.position,
  );
  const best = scored[0]?.score ?? 0;
  const chosen = scored.filter((entry) => entry.score >= best * 0.6).slice(0, 3);
  // One sentence alone reads abruptly: add the one after the best, which usually says what to do next.
  const top = chosen[0];
  const next = top ? sentences.get(top.source.id)?.[top.position + 1] : undefined;
  if (top && next && chosen.length === 1) {
    chosen.push({ source: top.source, sentence: next, position: top.position + 1, score: 0 });
  }
  chosen.sort((left, right) => left.source.id - right.source.id || left.position - right.position);
  const [first, ...rest] = chosen.map((entry) => cite(entry.sentence, entry.source.id));
  return rest.length > 0 ? `${first}\n\n${rest.map((line) => `• ${line}`).join('\n')}` : (first ?? '');
}

// --- rewrites and summaries ---------------------------------------------------------------------------------------

/** A short follow-up ("and for express?") gets the last question's topic; anything else stands alone. */
function rewrite(prompt: string): string {
  const followUp = unescapeData(/<follow_up>([\s\S]*?)<\/follow_up>/.exec(prompt)?.[1] ?? '').trim();
  const users = [...prompt.matchAll(/<user>([\s\S]*?)<\/user>/g)].map((match) => unescapeData(match[1] ?? ''));
  const previous = users
    .at(-1)
    ?.replace(/<@[A-Z0-9]+>/g, '')
    .trim();
  if (!previous || followUp.split(/\s+/).length > 6) return followUp;
  return `${previous.replace(/[?.!]+$/, '')}: ${followUp}`;
}

function summarise(prompt: string): string {
  const lines = prompt
    .split('\n')
    .filter((line) => /^(<@\w+>|bot):/.test(line))
    .slice(0, 5)
    .map((line) => `• ${line.replace(/^(<@\w+>|bot):\s*/, '').slice(0, 160)}`);
  return lines.length > 0 ? lines.join('\n') : '• The thread has no messages to summarise.';
}
