/**
 * Slack text helpers every surface shares: escaping for mrkdwn and plain text, and cutting text to a limit.
 *
 * Guarantees:
 * - `escapeMrkdwn` turns `&`, `<`, `>` into entities, so no text can become a mention, a broadcast
 *   (`<!channel>`) or a link; it changes nothing else.
 * - `truncate` returns at most `maxChars` characters; a cut text ends with `…` and never ends in half an escape
 *   sequence (`&am…`) or half a surrogate pair.
 * - `escapeMrkdwnKeepingMentions` escapes the same way except whole user mentions (`<@U…>`), for Deskhand's own
 *   messages that name people.
 */

/** Escapes the three characters Slack treats as markup in mrkdwn and plain text. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A user mention as Slack writes it (`<@U…>`, `<@W…>` for Enterprise Grid), nothing else. */
const userMention = /<@[UW][A-Z0-9]{2,20}>/g;

/**
 * Escapes like `escapeMrkdwn` but keeps well-formed user mentions, for messages Deskhand writes itself that name
 * people (a budget refusal names the admins who can raise the cap). Never for model output or user text: a
 * mention notifies its user.
 */
export function escapeMrkdwnKeepingMentions(text: string): string {
  let escaped = '';
  let from = 0;
  for (const match of text.matchAll(userMention)) {
    escaped += escapeMrkdwn(text.slice(from, match.index)) + match[0];
    from = match.index + match[0].length;
  }
  return escaped + escapeMrkdwn(text.slice(from));
}

/** Cuts to `maxChars` characters, the last one an ellipsis; never splits an escape sequence or a surrogate pair. */
export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let kept = text.slice(0, Math.max(0, maxChars - 1));
  const partialEntity = /&[a-z]{0,3}$/.exec(kept);
  if (partialEntity) kept = kept.slice(0, partialEntity.index);
  const last = kept.charCodeAt(kept.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) kept = kept.slice(0, -1);
  return `${kept}…`;
}
