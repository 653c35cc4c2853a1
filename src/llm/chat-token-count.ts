/**
 * Exact input tokens of a chat request, the way OpenAI's cookbook counts them ("How to count tokens with tiktoken",
 * `num_tokens_from_messages` and `num_tokens_for_tools`, gpt-4o/gpt-4o-mini constants):
 *
 * - every message costs 3 framing tokens plus the tokens of its role and content; a `name` costs 1 more plus its
 *   tokens; assistant tool calls cost the tokens of each call's function name and arguments (tiktoken#474: leaving
 *   them out undercounts agent conversations);
 * - the reply is primed with 3 tokens;
 * - tool definitions: 7 per function plus `name:description` (trailing full stop dropped); 3 more when it has
 *   properties, then per property 3 plus `key:type:description`, and for an enum -3 plus 3 and the tokens of each
 *   value; 12 to close the list;
 * - a `json_schema` response format costs the tokens of its JSON text (`{"name","schema","strict"}`). OpenAI does
 *   not document how it renders schemas; this is our estimate and the drift metric shows how far off it is.
 *
 * The provider's reported `prompt_tokens` is recorded next to this count by the gateway, and the difference is
 * exported as `deskhand_llm_token_count_drift` (by model), so a change on the provider's side is visible.
 */
import type OpenAI from 'openai';
import type { ChatRequest } from '../ports/language-model.ts';
import { countTokens, type EncodingName } from './tokenizer.ts';
import { toWireMessages, toWireResponseFormat, toWireTools, type WireMessage, type WireTool } from './wire-request.ts';

const tokensPerMessage = 3;
const tokensPerName = 1;
const replyPriming = 3;
const functionInit = 7;
const propertiesInit = 3;
const propertyKey = 3;
const enumInit = -3;
const enumItem = 3;
const functionsEnd = 12;

const roleTokens = new Map<string, number>();
/** Role names are a handful of fixed strings: count each once per encoding instead of once per message. */
function countRole(role: string, encoding: EncodingName): number {
  const key = `${encoding}:${role}`;
  let count = roleTokens.get(key);
  if (count === undefined) {
    count = countTokens(role, encoding);
    roleTokens.set(key, count);
  }
  return count;
}

/**
 * Token counts of recent message texts, per encoding (least recently used evicted past `memoMaxChars`). The same
 * system prompt, thread history and retrieved context recur across calls, and a cache hit repeats a request
 * exactly, so most of a request is counted once instead of on every call. Counts are exact: a text always has
 * the same tokens in one encoding.
 */
const memo = new Map<string, number>();
const memoMaxChars = 4_000_000;
const memoMinChars = 32;
let memoChars = 0;

function countMessageText(text: string, encoding: EncodingName): number {
  if (text.length < memoMinChars) return countTokens(text, encoding);
  const key = `${encoding}\u0000${text}`;
  const known = memo.get(key);
  if (known !== undefined) {
    memo.delete(key);
    memo.set(key, known);
    return known;
  }
  const count = countTokens(text, encoding);
  memo.set(key, count);
  memoChars += key.length;
  for (const oldest of memo.keys()) {
    if (memoChars <= memoMaxChars) break;
    memo.delete(oldest);
    memoChars -= oldest.length;
  }
  return count;
}

function textOf(content: WireMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((part) => ('text' in part ? part.text : '')).join('');
}

/** Tokens of wire-format messages including framing and reply priming. */
export function countWireMessageTokens(messages: readonly WireMessage[], encoding: EncodingName): number {
  let total = 0;
  for (const message of messages) {
    total += tokensPerMessage + countRole(message.role, encoding) + countMessageText(textOf(message.content), encoding);
    if ('name' in message && message.name) total += tokensPerName + countTokens(message.name, encoding);
    if (message.role === 'assistant') {
      for (const call of message.tool_calls ?? []) {
        if (call.type === 'function') {
          total += countTokens(call.function.name, encoding) + countTokens(call.function.arguments, encoding);
        }
      }
    }
  }
  return total + replyPriming;
}

interface PropertySchema {
  type?: unknown;
  description?: unknown;
  enum?: unknown;
}

/** Tokens of function tool definitions (cookbook `num_tokens_for_tools`). 0 when there are none. */
export function countWireToolTokens(tools: readonly WireTool[], encoding: EncodingName): number {
  if (tools.length === 0) return 0;
  let total = 0;
  for (const tool of tools) {
    const fn = tool.function;
    total += functionInit + countTokens(`${fn.name}:${(fn.description ?? '').replace(/\.$/, '')}`, encoding);
    const properties = ((fn.parameters as { properties?: Record<string, PropertySchema> } | undefined)?.properties ??
      {}) as Record<string, PropertySchema>;
    const keys = Object.keys(properties);
    if (keys.length === 0) continue;
    total += propertiesInit;
    for (const key of keys) {
      const property = properties[key] ?? {};
      total += propertyKey;
      if (Array.isArray(property.enum)) {
        total += enumInit;
        for (const item of property.enum) total += enumItem + countTokens(String(item), encoding);
      }
      const type = Array.isArray(property.type) ? property.type.join('|') : String(property.type ?? '');
      const description = typeof property.description === 'string' ? property.description.replace(/\.$/, '') : '';
      total += countTokens(`${key}:${type}:${description}`, encoding);
    }
  }
  return total + functionsEnd;
}

/** Tokens of a `json_schema` response format (its JSON text, as sent). */
export function countWireResponseFormatTokens(
  format: OpenAI.ResponseFormatJSONSchema | undefined,
  encoding: EncodingName,
): number {
  return format ? countTokens(JSON.stringify(format.json_schema), encoding) : 0;
}

/**
 * Exact input tokens of a request as the gateway sends it: messages with framing, tool definitions and the
 * structured-output schema. This is what the budget reserves before the call.
 */
export function countChatRequestTokens(
  request: Pick<ChatRequest, 'messages' | 'tools' | 'responseFormat'>,
  encoding: EncodingName,
): number {
  return (
    countWireMessageTokens(toWireMessages(request.messages), encoding) +
    countWireToolTokens(toWireTools(request.tools ?? []), encoding) +
    countWireResponseFormatTokens(request.responseFormat && toWireResponseFormat(request.responseFormat), encoding)
  );
}
