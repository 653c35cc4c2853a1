/**
 * Slack message text → the plain text a person reads. Slack wraps emails, links, mentions and channels in
 * `<…>` and escapes `&`, `<`, `>`; extraction and grounding must see `jo@example.com`, not
 * `<mailto:jo@example.com|jo@example.com>`, or every real email would look invented.
 * https://api.slack.com/reference/surfaces/formatting#retrieving-messages
 */

/** Decodes Slack's mrkdwn entities into plain text (labels win over URLs, mentions keep their ids). */
export function plainTextFromSlack(text: string): string {
  // No entity contains a raw `<` (Slack sends it as `&lt;`), so each one stops at the next `<`: linear time on
  // any text (issue 14; `<mailto:` repeated 18k times rescanned the rest of the text from every one).
  return text
    .replace(/<mailto:([^|<>]+)(?:\|([^<>]+))?>/g, (_match, address: string, label?: string) => label ?? address)
    .replace(/<(https?:[^|<>]+)\|([^<>]+)>/g, (_match, _url: string, label: string) => label)
    .replace(/<(https?:[^<>]+)>/g, (_match, url: string) => url)
    .replace(/<#(C[A-Z0-9]+)(?:\|([^<>]*))?>/g, (_match, id: string, name?: string) => `#${name || id}`)
    .replace(/<@([UW][A-Z0-9]+)(?:\|([^<>]*))?>/g, (_match, id: string, name?: string) => `@${name || id}`)
    .replace(/<!(here|channel|everyone)(?:\|[^<>]*)?>/g, '@$1')
    .replace(/<!subteam\^([A-Z0-9]+)(?:\|([^<>]*))?>/g, (_match, id: string, name?: string) => name || `@${id}`)
    .replace(/<!date\^\d+\^[^|<>]*\|([^<>]*)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** True when the text holds nothing a person wrote: only whitespace, mentions, emoji codes or punctuation. */
export function hasNoReadableText(text: string): boolean {
  const stripped = text
    .replace(/@[UW][A-Z0-9]+/g, '')
    .replace(/:[a-z0-9_+-]+:/g, '')
    .replace(/[\s\p{P}\p{S}]/gu, '');
  return stripped.length === 0;
}
