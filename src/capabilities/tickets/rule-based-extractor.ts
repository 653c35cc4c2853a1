/**
 * Degraded mode: what can be extracted without a model. Fills only fields it can support from the text
 * (order ids, emails, urgency words, deadline dates, a keyword category, frequency, a signed name, the
 * language); everything else stays null. The card says these tickets were extracted without the model.
 *
 * Dates use chrono-node (several locales) against the message instant at the workspace zone's UTC offset, so
 * "by Friday" means Friday where the team is; language detection uses tinyld (built for short texts).
 */
import * as chrono from 'chrono-node';
import { DateTime } from 'luxon';
import { detectAll } from 'tinyld';
import { defaultTicketInputTokenLimit } from './ticket-prompt.ts';
import type { Frequency, Ticket, UrgencyLevel } from './ticket-schema.ts';

/**
 * Characters of the customer's text the rules read: the model path's default input budget (3,000 tokens) at
 * about four characters a token. A longer text is cut before any pattern or date parser runs, so the work per
 * ticket is bounded however much is pasted (issue 14: ~39k characters on the rules path stalled every channel).
 */
export const ruleBasedTextBudget = defaultTicketInputTokenLimit * 4;

/** The first `ruleBasedTextBudget` characters (never half a surrogate pair), and whether anything was cut. */
export function truncateForRules(text: string): { text: string; truncated: boolean } {
  if (text.length <= ruleBasedTextBudget) return { text, truncated: false };
  const last = text.charCodeAt(ruleBasedTextBudget - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? ruleBasedTextBudget - 1 : ruleBasedTextBudget;
  return { text: text.slice(0, end), truncated: true };
}

/** `value` without the trailing run of `characters`, in linear time (`/[-.]+$/` is quadratic on long runs). */
function trimEndOf(value: string, characters: string): string {
  let end = value.length;
  while (end > 0 && characters.includes(value[end - 1] as string)) end--;
  return value.slice(0, end);
}

export interface RuleBasedInput {
  /** Plain text (see `plainTextFromSlack`). */
  text: string;
  messageTs: string;
  timeZone: string;
  categories: readonly string[];
  teamLanguage: string;
}

/**
 * Linear time (issue 14): a match may only start where a run of local-part characters starts (the lookbehind), so
 * a long run without an `@` is scanned once instead of once per position (40k digits took 12 s before). A match
 * starting inside a run would also match from the run's start, so the results are the same.
 */
export const emailPattern = /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.\p{L}{2,}/gu;

// Hand-written patterns: no maintained library knows shop order-number formats. Each requires a digit.
const orderIdPatterns: RegExp[] = [
  /(?<![\w#])#\s?\d{3,}[A-Z0-9-]*/gi,
  // The lookahead changes no match (the `{2,}` after it needs the same two characters); with it recheck proves the
  // pattern linear within its time limit, without it the check times out (undecided).
  /\b(?:ORD|ORDER|INV|PO|TX|TXN|TRX|CASE|REF|RMA)[-_#]\d(?=[A-Z0-9-]{2})[A-Z0-9-]{2,}\b/gi,
  /\b(?:ORD|INV|TXN|TRX|RMA)\d{3}[A-Z0-9-]*\b/gi, // `\d{3,}` would trade digits with the class: quadratic
];
const labelledOrderId =
  /\b(?:order|invoice|transaction|payment|reference|ref|case|tracking|bestellung|bestellnummer|rechnung|pedido|factura|commande|facture|ordine|bestelling)(?:\s*(?:number|no\.?|nr\.?|num(?:ber|éro|ero)?|id|nummer|número|n°|n\.))?(?:\s*(?:is|:|#|-))?\s*([A-Z0-9][A-Z0-9-]{3,})/giu;

/** Order/invoice/transaction ids as written, deduplicated by their normalised form. */
export function findOrderIds(text: string): string[] {
  const found: { index: number; value: string }[] = [];
  for (const pattern of orderIdPatterns) {
    for (const match of text.matchAll(pattern)) found.push({ index: match.index, value: match[0].replace(/\s+/g, '') });
  }
  for (const match of text.matchAll(labelledOrderId)) {
    const value = match[1] ?? '';
    if (/\d/.test(value) && !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
      found.push({ index: match.index + match[0].lastIndexOf(value), value });
    }
  }
  found.sort((left, right) => left.index - right.index);
  const seen = new Set<string>();
  const ids: string[] = [];
  for (const { value } of found) {
    const cleaned = trimEndOf(value, '-.');
    const key = normaliseIdentifier(cleaned);
    if (key.length < 3 || [...seen].some((known) => known.includes(key) || key.includes(known))) continue;
    seen.add(key);
    ids.push(cleaned);
  }
  return ids;
}

/** Lower case, letters and digits only: "#A-123" and "a123" compare equal. */
export function normaliseIdentifier(value: string): string {
  return value
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

export function findEmails(text: string): string[] {
  const emails = new Map<string, string>();
  for (const match of text.matchAll(emailPattern)) {
    const value = trimEndOf(match[0], '.');
    if (!emails.has(value.toLowerCase())) emails.set(value.toLowerCase(), value);
  }
  return [...emails.values()];
}

interface Cue<T> {
  value: T;
  pattern: RegExp;
}

const urgencyCues: Cue<UrgencyLevel>[] = [
  {
    value: 'critical',
    pattern:
      /\b(fraud(?:ulent)?|stolen|hacked|unauthori[sz]ed|didn'?t make (?:this|that|these|it)|did not make|never made (?:it|this|that)|not me|without my (?:knowledge|permission|consent)|lost (?:my|the) (?:card|phone|wallet)|freeze my card|emergency|outage|all (?:our )?(?:customers|users)|everyone is|production (?:is )?down|betrug|gestohlen|robad[ao]|fraude|volé)\b/iu,
  },
  {
    value: 'high',
    pattern:
      /\b(urgent(?:ly)?|asap|as soon as possible|immediately|right now|right away|today|tonight|blocked|locked out|can'?t (?:log ?in|access|pay|use)|cannot (?:log ?in|access|pay|use)|dringend|sofort|eilig|urgente|urgencia|inmediatamente|tout de suite|subito)\b/iu,
  },
  {
    value: 'low',
    pattern:
      /\b(no rush|not urgent|whenever|just (?:wondering|curious)|curious|would be nice|would love|suggestion|nicht eilig|sin prisa|pas urgent)\b/iu,
  },
];

const frequencyCues: Cue<Frequency>[] = [
  {
    value: 'always',
    pattern:
      /\b(every (?:single )?time|each time|always|keeps (?:on )?\w+ing|constantly|every day|jedes mal|immer|siempre|cada vez|toujours|à chaque fois|ogni volta)\b/iu,
  },
  {
    value: 'intermittent',
    pattern:
      /\b(sometimes|occasionally|intermittent(?:ly)?|from time to time|now and then|randomly|once in a while|manchmal|a veces|parfois|a volte)\b/iu,
  },
  {
    value: 'once',
    pattern: /\b(only once|happened once|just once|one time|for the first time|einmal|una vez|une fois)\b/iu,
  },
];

/** Category keywords in priority order; a category not configured is skipped. */
const categoryCues: Cue<string>[] = [
  {
    value: 'missing_delivery',
    pattern:
      /\b(not (?:yet )?(?:arrived|received|delivered)|(?:hasn'?t|has not|haven'?t|have not|never|didn'?t|did not|still not) (?:arrived|received|come|got(?:ten)?|been delivered|shown up)|still waiting|where is my (?:order|package|parcel|card|delivery)|tracking|lost in the (?:mail|post)|delivery|shipped|shipping|nicht angekommen|no (?:ha )?llegad[oa]|pas (?:encore )?(?:reçu|arrivé))\b/iu,
  },
  {
    value: 'app_crash',
    pattern:
      /\b(crash(?:es|ed|ing)?|freez(?:es|ing)|froze|force clos\w*|closes (?:itself|by itself)|stürzt|abgestürzt|se cierra|se bloquea|plante|crashe)\b/iu,
  },
  {
    value: 'account_access',
    pattern:
      /\b(log ?in|sign ?in|password|passcode|locked out|pin (?:is )?blocked|blocked pin|unblock|2fa|two.factor|verification code|verify (?:my )?identity|can'?t access|cannot access|anmelden|passwort|contraseña|mot de passe|iniciar sesión)\b/iu,
  },
  {
    value: 'billing',
    pattern:
      /\b(charged?|charges|fee|fees|refund\w*|invoice|bill(?:ed|ing)?|overcharged|twice|double|subscription|exchange rate|top.?up|payment|paid|cobr\w+|factura|rechnung|gebühr|abgebucht|rembours\w+|prélev\w+)\b/iu,
  },
  {
    value: 'feature_request',
    pattern:
      /\b(feature|would be (?:nice|great)|could you (?:add|make)|please add|wish|suggest\w*|it would help|support for|wäre schön|sería genial)\b/iu,
  },
  {
    value: 'bug',
    pattern:
      /\b(error|bug|glitch|broken|(?:doesn'?t|does not|don'?t|do not|won'?t|will not|isn'?t|is not|not|stopped) work(?:ing)?|didn'?t go through|wrong|declined|failed|fails|fehler|funktioniert nicht|no funciona|ne marche pas)\b/iu,
  },
  // Two cues for one category (only the category is used): the ending `?` and the question words were one
  // alternation, which recheck could not prove linear; apart, each is.
  {
    value: 'question',
    pattern:
      /\b(how (?:do|can|long|much)|what (?:is|are|do)|can i|is it possible|do you|where can|wie kann|cómo|comment)\b/iu,
  },
  { value: 'question', pattern: /\?\s*$/u },
];

const deadlineCue =
  /\b(by|before|until|till|no later than|deadline(?: is)?|due|latest|bis(?: zum| spätestens)?|spätestens(?: am| bis)?|avant(?: le)?|d'ici|antes del?|para el|hasta el|entro|voor|uiterlijk|até)\s*(?:the\s+|this\s+|le\s+|el\s+|il\s+)?$/iu;

const chronoParsers = [chrono.casual, chrono.de, chrono.fr, chrono.es, chrono.it, chrono.nl, chrono.pt];

/**
 * The customer's deadline as YYYY-MM-DD: a date the text asks for ("by Friday", "bis Freitag"), resolved
 * against the message instant in the workspace time zone. Dates of past events are not deadlines.
 */
export function findDeadline(text: string, messageTs: string, timeZone: string): string | null {
  const instant = new Date(Math.round(Number(messageTs) * 1000));
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  const reference = { instant, timezone: local.offset };
  const today = local.toISODate() ?? '';
  for (const parser of chronoParsers) {
    for (const result of parser.parse(text, reference, { forwardDate: true })) {
      const before = text.slice(Math.max(0, result.index - 30), result.index);
      if (!deadlineCue.test(before)) continue;
      const year = result.start.get('year');
      const month = result.start.get('month');
      const day = result.start.get('day');
      if (year === null || month === null || day === null) continue;
      const date = DateTime.fromObject({ year, month, day }, { zone: timeZone }).toISODate();
      if (date && date >= today) return date;
    }
  }
  return null;
}

function firstCue<T>(cues: Cue<T>[], text: string, allowed?: ReadonlySet<string>): { value: T; words: string } | null {
  for (const cue of cues) {
    if (allowed && !allowed.has(String(cue.value))) continue;
    const match = cue.pattern.exec(text);
    if (match) return { value: cue.value, words: match[0].trim() };
  }
  return null;
}

const signOffWords = [
  'thanks',
  'thank you',
  'many thanks',
  'regards',
  'kind regards',
  'best regards',
  'best',
  'cheers',
  'sincerely',
  'gruß',
  'grüße',
  'viele grüße',
  'saludos',
  'gracias',
  'merci',
  'cordialement',
  'grazie',
];
// Sign-off words match in either case while the name itself must be capitalised, so no `i` flag.
export const signOffPattern = new RegExp(
  `(?:^|[\\n.!?][^\\S\\n]*)(?:${signOffWords.map((word) => `[${word[0]?.toUpperCase()}${word[0]}]${word.slice(1)}`).join('|')})[,!.]?\\s+(?:[-—–]\\s*)?(\\p{Lu}[\\p{L}'’-]+(?:\\s+\\p{Lu}[\\p{L}'’-]+)?)\\s*[.!]?\\s*$`,
  'u',
);
const namedAs =
  /\b(?:[Mm]y name is|I am|I'm|[Tt]his is|[Ii]ch bin|[Ii]ch heiße|[Mm]e llamo|[Mm]i nombre es|[Jj]e m'appelle|[Jj]e suis)\s+(\p{Lu}[\p{L}'’-]+(?:\s+\p{Lu}[\p{L}'’-]+)?)/u;
const dashSignature = /(?:^|\s)[—–-]\s*(\p{Lu}[\p{L}'’-]+(?:\s+\p{Lu}[\p{L}'’-]+)?)\s*(?:,|$)/mu;

/** A name the customer signs with or introduces themselves by; null when there is none. */
export function findCustomerName(text: string): string | null {
  const trimmed = text.trim();
  const match = signOffPattern.exec(trimmed) ?? namedAs.exec(trimmed) ?? dashSignature.exec(trimmed);
  return match?.[1]?.trim() ?? null;
}

const detectableLanguages = [
  'en',
  'de',
  'fr',
  'es',
  'it',
  'nl',
  'pt',
  'pl',
  'sv',
  'da',
  'fi',
  'ru',
  'uk',
  'tr',
  'ja',
  'zh',
  'ko',
];

/**
 * ISO 639-1 code of the text's language; `fallback` when the text is too short or too ambiguous to tell.
 * tinyld's scores are not probabilities: a confident score wins, and on sentences of five words or more a clear
 * lead over the runner-up does too (one-word greetings are left to the fallback).
 */
export function detectLanguage(text: string, fallback: string): string {
  const [best, second] = detectAll(text, { only: detectableLanguages });
  if (!best) return fallback;
  if (best.accuracy >= 0.5) return best.lang;
  const words = text.split(/\s+/).filter((word) => /\p{L}/u.test(word)).length;
  const lead = best.accuracy / Math.max(second?.accuracy ?? 0, 1e-9);
  return words >= 5 && best.accuracy >= 0.05 && lead >= 1.5 ? best.lang : fallback;
}

function summarise(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const sentence = /^(.{20,}?[.!?])(?:\s|$)/u.exec(flat)?.[1] ?? flat;
  return sentence.length <= 200 ? sentence : `${sentence.slice(0, 199).trimEnd()}…`;
}

/** What a rule-made ticket of this category still needs to ask. */
export function questionsFor(ticket: Pick<Ticket, 'category' | 'orderIds'>): string[] {
  switch (ticket.category) {
    case 'missing_delivery':
      return ticket.orderIds.length === 0 ? ['What is the order number?'] : [];
    case 'app_crash':
      return ['Which device and app version are you using?'];
    case 'billing':
      return ticket.orderIds.length === 0 ? ['Which transaction or invoice is this about?'] : [];
    default:
      return [];
  }
}

/**
 * A ticket from rules alone. Never guesses: a field without evidence in the text is null or empty. Reads only the
 * first `ruleBasedTextBudget` characters.
 */
export function extractByRules(input: RuleBasedInput): Ticket {
  const source = truncateForRules(input.text).text;
  const text = source.replace(/[’‘]/g, "'");
  const categories = new Set(input.categories);
  const fallbackCategory = categories.has('other') ? 'other' : (input.categories.at(-1) ?? 'other');
  const category = firstCue(categoryCues, text, categories)?.value ?? fallbackCategory;
  const orderIds = findOrderIds(text);
  const customerEmail = findEmails(text)[0] ?? null;
  const customerName = findCustomerName(text);
  const deadline = findDeadline(text, input.messageTs, input.timeZone);
  const urgencyCue = firstCue(urgencyCues, text);
  let urgency: UrgencyLevel =
    urgencyCue?.value ?? (category === 'question' || category === 'feature_request' ? 'low' : 'medium');
  let urgencyReason = urgencyCue?.words ?? null;
  if (deadline && urgency !== 'critical' && urgencyCue?.value !== 'high') {
    const messageDay = DateTime.fromMillis(Math.round(Number(input.messageTs) * 1000), {
      zone: input.timeZone,
    }).startOf('day');
    const days = DateTime.fromISO(deadline, { zone: input.timeZone }).diff(messageDay, 'days').days;
    if (days <= 3) {
      urgency = 'high';
      urgencyReason = `deadline ${deadline}`;
    }
  }
  const frequency = firstCue(frequencyCues, text)?.value ?? null;
  const found = [orderIds.length > 0, customerEmail, customerName, deadline, urgencyCue, frequency].filter(
    Boolean,
  ).length;
  return {
    summary: summarise(source),
    category,
    urgency,
    urgencyReason,
    orderIds,
    customerName,
    customerEmail,
    product: null,
    deadline,
    frequency,
    language: detectLanguage(text, input.teamLanguage),
    questionsToAsk: questionsFor({ category, orderIds }),
    confidence: Math.round(Math.min(0.6, 0.2 + 0.05 * found) * 100) / 100,
  };
}
