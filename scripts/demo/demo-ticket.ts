/**
 * The demo model's ticket writer: reads a customer message the way a careful model would — only what the text
 * says (order ids and emails copied verbatim, a name only from a signature, a deadline only when one is asked
 * for), a category from the list the request allows, an urgency with the words that justify it — and returns
 * a value that satisfies the ticket JSON Schema. Deterministic: the same message gives the same ticket.
 */

export interface DemoTicket {
  summary: string;
  category: string;
  urgency: 'low' | 'medium' | 'high' | 'critical';
  urgencyReason: string | null;
  orderIds: string[];
  customerName: string | null;
  customerEmail: string | null;
  product: string | null;
  deadline: string | null;
  frequency: 'once' | 'intermittent' | 'always' | null;
  language: string;
  questionsToAsk: string[];
  confidence: number;
}

const categoryCues: Array<[string, RegExp]> = [
  [
    'account_access',
    /\b(sign(?:ed)? in|log(?:ged)? ?in|password|locked|authenticator|2fa|two-factor|backup codes?)\b/i,
  ],
  ['billing', /\b(charged|charge|refund|invoice|payment|billed|double)\b/i],
  ['missing_delivery', /\b(arrived|delivery|delivered|tracking|parcel|package|shipped|in transit)\b/i],
  ['app_crash', /\b(crash(?:es|ed)?|freezes?)\b/i],
  ['bug', /\b(error|broken|bug|doesn't work|does not work)\b/i],
  ['feature_request', /\b(would be (?:great|nice)|feature|could you add|please add)\b/i],
];

const weekdays = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const products = ['tent', 'sleeping bag', 'backpack', 'jacket', 'boots', 'stove'];

/** The category to use: the first cue that matches and is allowed, else "other" (or "question"), else the first. */
export function pickCategory(text: string, allowed: readonly string[]): { category: string; matched: boolean } {
  for (const [category, cue] of categoryCues) {
    if (allowed.includes(category) && cue.test(text)) return { category, matched: true };
  }
  const fallback = /\?\s*$/.test(text.trim()) ? 'question' : 'other';
  return { category: allowed.includes(fallback) ? fallback : (allowed[0] ?? 'other'), matched: false };
}

function urgencyOf(text: string, deadline: string | null): Pick<DemoTicket, 'urgency' | 'urgencyReason'> {
  const security = /\b(didn'?t place|did not place|not me|hacked|stolen|fraud|someone changed)\b[^.!?]*/i.exec(text);
  if (security) return { urgency: 'critical', urgencyReason: clip(security[0].trim(), 80) };
  const pressing =
    /\b(urgent(?:ly)?|asap|as soon as possible|need (?:it|this|the \w+) by \w+|by (?:tomorrow|today))\b[^.!?,]*/i.exec(
      text,
    );
  if (pressing || deadline) return { urgency: 'high', urgencyReason: (pressing?.[0] ?? 'an explicit deadline').trim() };
  if (/\b(can'?t|cannot|unable|twice|still hasn'?t|never arrived)\b/i.test(text)) {
    return { urgency: 'medium', urgencyReason: null };
  }
  return { urgency: 'low', urgencyReason: null };
}

/** "by Friday" / "tomorrow" resolved against the message time (YYYY-MM-DD), or null when no date is asked for. */
function deadlineOf(text: string, messageTime: Date): string | null {
  const day = /\bby (monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b/i.exec(text)?.[1]?.toLowerCase();
  const date = new Date(messageTime);
  if (day) {
    const ahead = (weekdays.indexOf(day) - date.getUTCDay() + 7) % 7 || 7;
    date.setUTCDate(date.getUTCDate() + ahead);
  } else if (/\b(by )?tomorrow\b/i.test(text)) {
    date.setUTCDate(date.getUTCDate() + 1);
  } else {
    return null;
  }
  return date.toISOString().slice(0, 10);
}

function summaryOf(text: string, ticket: Omit<DemoTicket, 'summary' | 'questionsToAsk' | 'confidence'>): string {
  const ids = ticket.orderIds;
  const orders = ids.length === 0 ? 'an order' : `${ids.length === 1 ? 'order' : 'orders'} ${ids.join(' and ')}`;
  const by = ticket.deadline ? `; needed by ${ticket.deadline}` : '';
  switch (ticket.category) {
    case 'missing_delivery':
      return `${capitalise(orders)} has not arrived${/in transit/i.test(text) ? ' (tracking stuck in transit)' : ''}${by}.`;
    case 'billing':
      return /twice|double|two charges/i.test(text)
        ? `The customer was charged twice for ${orders} and asks for the duplicate charge to be refunded.`
        : `The customer has a billing problem with ${orders}.`;
    case 'account_access':
      if (ticket.urgency === 'critical') {
        return `Possible account takeover: the customer reports ${orders} they did not place and a changed delivery address.`;
      }
      return /authenticator|code|2fa|two-factor/i.test(text)
        ? 'The customer cannot sign in: two-factor authentication asks for a code from a phone they no longer have.'
        : 'The customer cannot sign in to their account.';
    default: {
      const first = text.replace(/^(hi|hello|hey)[,!.\s]+/i, '').split(/(?<=[.!?])\s/)[0] ?? text;
      return first.length > 200 ? `${first.slice(0, 197)}…` : first;
    }
  }
}

/** Cuts at a word boundary, at most `limit` characters. */
function clip(text: string, limit: number): string {
  if (text.length <= limit) return text;
  return `${text.slice(0, text.lastIndexOf(' ', limit - 1)).replace(/[\s(,;:]+$/, '')}…`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Builds the ticket for `text`, written at `messageTime`, with a category from `categories`. */
export function writeTicket(text: string, categories: readonly string[], messageTime = new Date()): DemoTicket {
  const orderIds = [...new Set(text.match(/\b[A-Z]{2,4}-\d{4,}\b|#\d{4,}\b/g) ?? [])];
  const customerEmail = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/.exec(text)?.[0] ?? null;
  const signature = /(?:—|–|\s-\s|thanks,|regards,|cheers,)\s*([A-Z][a-z]+(?: [A-Z][a-z]+)+)\b/i.exec(text);
  const customerName = signature?.[1] ?? null;
  const deadline = deadlineOf(text, messageTime);
  const { category, matched } = pickCategory(text, categories);
  const { urgency, urgencyReason } = urgencyOf(text, deadline);
  const lower = text.toLowerCase();
  const product = products.find((name) => new RegExp(`\\b${name}\\b`).test(lower)) ?? null;
  const frequency = /\b(keeps|every time|always)\b/i.test(text)
    ? 'always'
    : /\b(sometimes|now and then)\b/i.test(text)
      ? 'intermittent'
      : null;
  const partial = {
    // Orders the customer did not place are an account problem first, whatever else the message mentions.
    category: urgency === 'critical' && categories.includes('account_access') ? 'account_access' : category,
    urgency,
    urgencyReason,
    orderIds,
    customerName,
    customerEmail,
    product,
    deadline,
    frequency,
    language: 'en',
  } as const;
  const questionsToAsk: string[] = [];
  if (orderIds.length === 0 && (category === 'missing_delivery' || category === 'billing')) {
    questionsToAsk.push('What is the order number?');
  }
  if (partial.category === 'account_access') {
    questionsToAsk.push('Can the customer confirm two of: email on file, last order number, billing postcode?');
  }
  if (partial.category === 'missing_delivery')
    questionsToAsk.push('Has the customer checked with neighbours and reception?');
  return {
    summary: summaryOf(text, partial),
    ...partial,
    questionsToAsk,
    confidence: matched ? 0.86 : 0.55,
  };
}
