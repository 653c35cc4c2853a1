/**
 * Routing by rule: explicit commands and shortcuts always, mentions only when cheap keyword rules are
 * unambiguous. Greetings and questions about what Deskhand can do ("hello, what can you do?") are help by rule,
 * never a model call. Everything else goes to the classifier (one model call) — or, without a model or when
 * the classifier fails, to help (src/router/router.ts).
 */

import type { MentionRoute, Route } from '../ports/capability.ts';
import { commands } from '../slack-kit/ids.ts';

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
    .replace(/<@[UWB][A-Z0-9]+(\|[^<>]*)?>/g, ' ') // stops at the next `<`: linear time (issue 14)
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
/** Leading greetings and thanks, possibly several ("hi there, thanks!"), with an optional addressee. */
const greetings =
  /^(?:(?:hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening)|thanks|thank you|cheers)(?: there| all| team| deskhand)?(?:[\s,.;:!]+|$))+/;
/** The whole rest of a mention asks what Deskhand is or can do. */
const capabilityQuestion =
  /^(?:so |and |ok |okay |please )?(?:what (?:else )?(?:can|could|do) you (?:do|help (?:me )?with)|what are you(?: for| able to do)?|who are you|what is deskhand|what does deskhand do|how (?:can|could|do) you help(?: me)?|(?:can|could) you help(?: me)?|how do i use you|how does this work|what are your (?:commands|capabilities|features|skills)|(?:show|list|tell) (?:me )?(?:your |the )?(?:commands|capabilities|features)|(?:your |the )?(?:commands|capabilities|features)|help(?: me)?|are you (?:there|awake|working))[\s?!.]*$/;

/** True when a (lower-cased) mention is only greetings, thanks or a question about what Deskhand can do. */
export function isGreetingOrCapabilityQuestion(normalised: string): boolean {
  const rest = withoutGreetings(normalised);
  return rest === '' || /^[\W_]*$/.test(rest) || capabilityQuestion.test(rest);
}

/** The mention without leading greetings and emoji codes (`:wave:`). */
function withoutGreetings(normalised: string): string {
  return normalised
    .replace(/:[a-z0-9_+'-]+:/g, ' ')
    .trim()
    .replace(greetings, '')
    .trim();
}

/**
 * The route of a mention when keyword rules are unambiguous (exactly one kind of signal), else undefined.
 * `text` is the message with mentions already stripped. A leading greeting does not hide the rest: "hi, how do
 * I reset a password?" is a question.
 */
export function routeMentionByRules(text: string): MentionRoute | undefined {
  const explicit = explicitMentionRoute(text);
  if (explicit !== undefined) return explicit;
  const rest = withoutGreetings(text.toLowerCase().replace(/\s+/g, ' ').trim());
  const signals = new Set<MentionRoute>();
  if (ticketSignal.test(rest)) signals.add('ticket');
  if (taskSignal.test(rest)) signals.add('task');
  if (questionSignal.test(rest)) signals.add('question');
  if (signals.size !== 1) return undefined;
  return [...signals][0];
}

/**
 * The route a mention names itself — help for greetings and questions about Deskhand, or an explicit prefix such
 * as "ticket:" — else undefined. These win over a channel's default meaning of a plain mention.
 */
export function explicitMentionRoute(text: string): MentionRoute | undefined {
  const normalised = text.toLowerCase().replace(/\s+/g, ' ').trim();
  if (isGreetingOrCapabilityQuestion(normalised)) return 'help';
  const rest = withoutGreetings(normalised);
  for (const [pattern, route] of explicitPrefixes) if (pattern.test(rest)) return route;
  return undefined;
}

/** Text after an explicit prefix such as "ticket:" (so the capability gets the substance only). */
export function withoutRoutePrefix(text: string): string {
  return text.replace(/^\s*(ticket|bug|ask|question|agent|task)\s*[:,-]?\s*/i, '').trim() || text.trim();
}
