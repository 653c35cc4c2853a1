/**
 * Small text helpers for the demo model: wire message text, the terms of a question, sentence picking.
 * Deliberately simple (no stemming library): the demo model only has to be plausible and deterministic.
 */

export interface WireMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/** The text of a wire message's content (a string or an array of text parts). */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && 'text' in part ? String(part.text) : ''))
      .join('');
  }
  return '';
}

/** Undoes the prompt's escaping (`escapePromptData`) and Slack's. */
export function unescapeData(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

const stopWords = new Set(
  'a an and are as at be by can do does for from has have how i if in is it its me my of on or our should so that the their them then there these they this to us was we what when where which who why will with you your about into than do did done any'.split(
    ' ',
  ),
);

/** Lower-cased content words, crudely stemmed ("refunds" → "refund", "escalation" → "escalat"). */
export function termsOf(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? [])
    .filter((word) => !stopWords.has(word) && word.length > 1)
    .map((word) => (word.length > 4 ? word.replace(/(ation|ing|ed|es|e|s)$/, '') : word));
}

/** Splits a passage into sentences; Markdown table rows become "Header: cell; …" sentences; headings are dropped. */
export function sentencesOf(text: string): string[] {
  const sentences: string[] = [];
  // Compressed context (compress-context.ts) keeps a heading on its own line directly above its sentences and marks
  // dropped text with "…": a heading line or a lone "…" ends a block like a blank line does.
  const blocks = text.split(/\n{2,}|\n(?=#{1,6}\s)|(?<=^#{1,6}\s[^\n]*)\n|\n…(?:\n|$)/m);
  for (const rawLine of blocks) {
    const line = rawLine.replace(/^…\s*|\s*…$/g, '').trim();
    if (!line || /^#{1,6}\s/.test(line)) continue;
    if (line.startsWith('|')) {
      // Each body row becomes "Header: cell; Header: cell." so it reads as a statement.
      const rows = line.split('\n').map((row) =>
        row
          .split('|')
          .map((cell) => cell.trim())
          .filter((cell) => cell && !/^[-:\s]+$/.test(cell)),
      );
      const header = rows[0] ?? [];
      for (const cells of rows.slice(1)) {
        if (cells.length > 1) sentences.push(`${cells.map((cell, i) => `${header[i] ?? ''}: ${cell}`).join('; ')}.`);
      }
      continue;
    }
    for (const sentence of line.replace(/\s*\n\s*/g, ' ').split(/(?<=[.!?])\s+(?=[A-Z*_`])/)) {
      if (sentence.trim().length > 3) sentences.push(sentence.trim());
    }
  }
  return sentences;
}

/** How many of the question's terms occur in the text (each counted once). */
export function overlap(questionTerms: readonly string[], text: string): number {
  const terms = new Set(termsOf(text));
  return new Set(questionTerms.filter((term) => terms.has(term))).size;
}

/** `[n]` placed before the sentence's closing punctuation, as a model writes it. */
export function cite(sentence: string, number: number): string {
  const trimmed = sentence.replace(/\s+$/, '');
  return /[.!?]$/.test(trimmed) ? `${trimmed.slice(0, -1)} [${number}]${trimmed.slice(-1)}` : `${trimmed} [${number}]`;
}
