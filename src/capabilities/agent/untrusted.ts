/**
 * Retrieved text, thread messages and tool output are data, never instructions. They reach the model inside
 * `<untrusted_data>` delimiters; a closing tag inside the data is neutralised so the data cannot end the block
 * early and speak as the system. This is defence in depth only: the guarantee that a document cannot cause a
 * write is in code (write tools run only with an approved request).
 */

const closingTag = /<\s*\/\s*untrusted_data\s*>/gi;
// The start of an opening tag; its attributes up to the next `>` are found in code (`neutraliseOpeningTags`): a
// `[^>]*>` in the pattern rescanned the rest of the text from every `<untrusted_data` that has no `>` after it.
const openingTagStart = /<\s*untrusted_data\b/gi;

/** Wraps `text` as untrusted data from `source` (a tool name or a label such as `slack_thread`). */
export function wrapUntrusted(source: string, text: string): string {
  const safeSource = source.replace(/[^a-z0-9_:-]/gi, '_');
  const neutralised = neutraliseOpeningTags(text.replace(closingTag, '</untrusted-data>'));
  return `<untrusted_data source="${safeSource}">\n${neutralised}\n</untrusted_data>`;
}

/**
 * Every `<untrusted_data …>` (a start and everything to the next `>`) becomes `<untrusted-data>`, as the pattern
 * `<\s*untrusted_data\b[^>]*>` would replace it, in one pass: the next `>` is searched for once and reused.
 */
export function neutraliseOpeningTags(text: string): string {
  let result = '';
  let copied = 0;
  let nextClose = -1;
  openingTagStart.lastIndex = 0;
  for (let match = openingTagStart.exec(text); match !== null; match = openingTagStart.exec(text)) {
    const afterStart = match.index + match[0].length;
    if (nextClose < afterStart) nextClose = text.indexOf('>', afterStart);
    if (nextClose === -1) break; // no `>` after this start, nor after any later one
    result += `${text.slice(copied, match.index)}<untrusted-data>`;
    copied = nextClose + 1;
    openingTagStart.lastIndex = copied;
  }
  return result + text.slice(copied);
}
