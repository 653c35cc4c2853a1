/**
 * Redaction applied to the gateway's calls: what leaves for the provider is redacted, what comes back is restored.
 *
 * - `redactChatRequest`: every message's text and every tool call's arguments are redacted with one vault, in
 *   message order (so the numbering is stable as a conversation grows). When anything was masked, one sentence is
 *   added to the first system message (or a system message is put first) telling the model that `<EMAIL_1>`-style
 *   tokens are placeholders to copy as written. Tool definitions and response schemas are Deskhand's own text and
 *   are sent unchanged. The response-cache key is computed later from this redacted request, so a cached reply holds
 *   placeholders only and is restored with each caller's own values: a hit never carries one person's data to another.
 * - `restoreChatResult`: the reply text and tool-call arguments restored (so tools act on the real values and people
 *   read them); anything restored goes back through `redactChatRequest` if it is ever sent to a model again.
 * - `restoreStructuredValue`: the strings of a validated structured reply restored and validated again; if the
 *   restored value no longer fits the schema (a value longer than a field allows), the placeholder version is kept.
 * - `redactEmbeddingInputs`: each text redacted on its own (vectors are never restored).
 */
import type { z } from 'zod';
import type { ChatMessage, ChatRequest, ChatResult } from '../ports/language-model.ts';
import type { RedactionPolicy } from './redaction-policy.ts';
import { RedactionVault, StreamRestorer } from './redaction-vault.ts';

export const placeholderNote =
  'Text such as <EMAIL_1>, <PHONE_1>, <CARD_1>, <IBAN_1> or <SECRET_1> is a placeholder for personal data removed ' +
  'before you saw it. When you refer to that value, write its placeholder exactly as it appears; never guess the value.';

function messageTexts(message: ChatMessage): string[] {
  const texts = message.content ? [message.content] : [];
  if (message.role === 'assistant') for (const call of message.toolCalls ?? []) texts.push(call.argumentsJson);
  return texts;
}

function redactMessage(message: ChatMessage, vault: RedactionVault): ChatMessage {
  switch (message.role) {
    case 'assistant':
      return {
        ...message,
        content: message.content === null ? null : vault.redact(message.content),
        ...(message.toolCalls
          ? {
              toolCalls: message.toolCalls.map((call) => ({
                ...call,
                argumentsJson: vault.redactJson(call.argumentsJson),
              })),
            }
          : {}),
      };
    default:
      return { ...message, content: vault.redact(message.content) };
  }
}

/** The request as the provider may see it, and the vault that restores its reply. */
export function redactChatRequest<R extends Pick<ChatRequest, 'messages'>>(
  request: R,
  policy: RedactionPolicy,
): { request: R; vault: RedactionVault } {
  const vault = new RedactionVault(policy);
  for (const message of request.messages) for (const text of messageTexts(message)) vault.noteLiterals(text);
  const messages = request.messages.map((message) => redactMessage(message, vault));
  if (vault.size === 0) return { request, vault };
  const first = messages[0];
  const withNote: ChatMessage[] =
    first?.role === 'system'
      ? [{ role: 'system', content: `${first.content}\n\n${placeholderNote}` }, ...messages.slice(1)]
      : [{ role: 'system', content: placeholderNote }, ...messages];
  return { request: { ...request, messages: withNote }, vault };
}

/** The reply with what may be shown in place of its placeholders. */
export function restoreChatResult(result: ChatResult, vault: RedactionVault): ChatResult {
  if (vault.size === 0) return result;
  return {
    ...result,
    text: vault.restore(result.text),
    toolCalls: result.toolCalls.map((call) => ({ ...call, argumentsJson: vault.restoreJson(call.argumentsJson) })),
  };
}

/** Wraps a streaming callback so it receives restored text; call `end` when the stream is over (or failed). */
export function restoringTextDeltas(
  onTextDelta: (delta: string) => void,
  vault: RedactionVault,
): { onTextDelta: (delta: string) => void; end: () => void } {
  const restorer = new StreamRestorer(vault);
  return {
    onTextDelta: (delta) => {
      const shown = restorer.push(delta);
      if (shown.length > 0) onTextDelta(shown);
    },
    end: () => {
      const rest = restorer.end();
      if (rest.length > 0) onTextDelta(rest);
    },
  };
}

/** A validated structured value with its placeholders restored, when the restored value still fits the schema. */
export function restoreStructuredValue<T>(
  value: T,
  vault: RedactionVault,
  schema: z.ZodType<T>,
): { value: T; restored: boolean } {
  if (vault.size === 0) return { value, restored: true };
  const checked = schema.safeParse(vault.restoreValue(value));
  return checked.success ? { value: checked.data, restored: true } : { value, restored: false };
}

/** Each text redacted on its own, and the vaults' counts added up. */
export function redactEmbeddingInputs(
  texts: readonly string[],
  policy: RedactionPolicy,
): { texts: string[]; counts: RedactionVault['counts'] } {
  const counts: RedactionVault['counts'] = { email: 0, phone: 0, card: 0, iban: 0, secret: 0 };
  const redacted = texts.map((text) => {
    if (typeof text !== 'string') return text;
    const vault = new RedactionVault(policy);
    const out = vault.redact(text);
    for (const kind of Object.keys(counts) as (keyof typeof counts)[]) counts[kind] += vault.counts[kind];
    return out;
  });
  return { texts: redacted, counts };
}
