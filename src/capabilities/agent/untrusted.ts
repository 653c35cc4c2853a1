/**
 * Retrieved text, thread messages and tool output are data, never instructions. They reach the model inside
 * `<untrusted_data>` delimiters; a closing tag inside the data is neutralised so the data cannot end the block
 * early and speak as the system. This is defence in depth only: the guarantee that a document cannot cause a
 * write is in code (write tools run only with an approved request).
 */

const closingTag = /<\s*\/\s*untrusted_data\s*>/gi;
const openingTag = /<\s*untrusted_data\b[^>]*>/gi;

/** Wraps `text` as untrusted data from `source` (a tool name or a label such as `slack_thread`). */
export function wrapUntrusted(source: string, text: string): string {
  const safeSource = source.replace(/[^a-z0-9_:-]/gi, '_');
  const neutralised = text.replace(closingTag, '</untrusted-data>').replace(openingTag, '<untrusted-data>');
  return `<untrusted_data source="${safeSource}">\n${neutralised}\n</untrusted_data>`;
}
