/**
 * Routing by rule: explicit commands and shortcuts always, mentions only when cheap keyword rules are
 * unambiguous. Everything else goes to the classifier (one model call).
 */
import { commands } from '../slack/ids.ts';
import type { MentionRoute, Route } from './types.ts';

const commandRoutes: Record<string, Route> = {
  [commands.ask]: 'question',
  [commands.ticket]: 'ticket',
  [commands.agent]: 'task',
  [commands.budget]: 'budget',
  [commands.docs]: 'docs',
};

/** The route of a slash command; `help` when the whole text is "help"; undefined for unknown commands. */
export function routeForCommand(command: string, text: string): Route | undefined {
  const route = commandRoutes[command];
  if (route === undefined) return undefined;
  if (route !== 'budget' && route !== 'docs' && /^\s*help\s*$/i.test(text)) return 'help';
  return route;
}

/** Removes user mentions (`<@U123>` or `<@U123|name>`) and surrounding whitespace. */
export function stripMentions(text: string): string {
  return text
    .replace(/<@[UWB][A-Z0-9]+(\|[^>]*)?>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const explicitPrefixes: [RegExp, MentionRoute][] = [
  [/^(ticket|bug)\b/, 'ticket'],
  [/^(ask|question)\b/, 'question'],
  [/^(agent|task)\b/, 'task'],
  [/^help\b/, 'help'],
];

const ticketSignal = /\b(create|open|file|log|raise|make)\s+(a\s+|an\s+)?(new\s+)?(ticket|bug report|issue)\b/;
const taskSignal = /^(please\s+)?(summari[sz]e|draft|compile|collect|go through|check all|list all)\b/;
const questionSignal = /^(how|what|where|when|why|which|who|is|are|does|do|can|could|should|will)\b[^?]*\?$/;
const greeting = /^(hi|hello|hey|thanks|thank you|what can you do)\W*$/;

/**
 * The route of a mention when keyword rules are unambiguous (exactly one kind of signal), else undefined.
 * `text` is the message with mentions already stripped.
 */
export function routeMentionByRules(text: string): MentionRoute | undefined {
  const normalised = text.toLowerCase().replace(/\s+/g, ' ').trim();
  if (normalised === '' || greeting.test(normalised)) return 'help';
  for (const [pattern, route] of explicitPrefixes) if (pattern.test(normalised)) return route;
  const signals = new Set<MentionRoute>();
  if (ticketSignal.test(normalised)) signals.add('ticket');
  if (taskSignal.test(normalised)) signals.add('task');
  if (questionSignal.test(normalised)) signals.add('question');
  if (signals.size !== 1) return undefined;
  return [...signals][0];
}

/** Text after an explicit prefix such as "ticket:" (so the capability gets the substance only). */
export function withoutRoutePrefix(text: string): string {
  return text.replace(/^\s*(ticket|bug|ask|question|agent|task)\s*[:,-]?\s*/i, '').trim() || text.trim();
}
