/**
 * `structuredOutput`: a chat call whose reply must be JSON matching a zod schema.
 *
 * - The schema is sent as a strict `json_schema` response format (`toStrictJsonSchema`: optional fields become
 *   nullable and are restored before validation); temperature defaults to 0.
 * - A first reply is cached only if it validates, so a cached entry is never an invalid one.
 * - A reply that is not JSON or does not match gets exactly one repair call (never cached): the conversation plus
 *   the bad reply and the first ten problems, counted anew (a caller's `inputTokens` was for the first call only).
 *   Its result carries the cost and usage of both calls.
 * - A repair that still does not match is `upstream_invalid_response` with the schema name and the problems.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import { DeskhandError } from '../errors.ts';
import type {
  CallScope,
  ChatRequest,
  ChatResult,
  StructuredRequest,
  StructuredResult,
} from '../ports/language-model.ts';
import type { InternalOptions } from './gateway-policy.ts';
import { toStrictJsonSchema } from './structured-schema.ts';

/** The gateway's chat call, with its internal options. */
export type CompleteChat = (request: ChatRequest, scope: CallScope, internal: InternalOptions) => Promise<ChatResult>;

type Check<T> = { ok: true; value: T } | { ok: false; errors: string };

export async function structuredOutput<T>(
  complete: CompleteChat,
  logger: Logger,
  request: StructuredRequest<T>,
  scope: CallScope,
): Promise<StructuredResult<T>> {
  const { schema, schemaName, ...rest } = request;
  const strict = toStrictJsonSchema(schema);
  const chatRequest: ChatRequest = {
    ...rest,
    temperature: rest.temperature ?? 0,
    responseFormat: { type: 'json_schema', name: schemaName, schema: strict.schema, strict: true },
  };
  const validate = validator(schema, strict.restoreOptional);
  const first = await complete(chatRequest, scope, { acceptForCache: (result) => validate(result.text).ok });
  const firstCheck = validate(first.text);
  if (firstCheck.ok) return { value: firstCheck.value, result: first, repaired: false };
  logger.warn(
    { purpose: request.purpose, schemaName, errors: firstCheck.errors, requestId: first.requestId },
    'structured reply failed validation; making one repair call',
  );
  const { inputTokens: _firstCallTokens, ...firstRequest } = chatRequest;
  const repairRequest: ChatRequest = {
    ...firstRequest,
    messages: [
      ...chatRequest.messages,
      { role: 'assistant', content: first.text },
      {
        role: 'user',
        content: `Your reply did not match the required JSON schema "${schemaName}": ${firstCheck.errors}. Reply again with only the corrected JSON.`,
      },
    ],
    cache: { enabled: false },
  };
  const second = await complete(repairRequest, scope, {});
  const combined: ChatResult = {
    ...second,
    costMicroUsd: first.costMicroUsd + second.costMicroUsd,
    usage: {
      inputTokens: first.usage.inputTokens + second.usage.inputTokens,
      cachedInputTokens: first.usage.cachedInputTokens + second.usage.cachedInputTokens,
      outputTokens: first.usage.outputTokens + second.usage.outputTokens,
    },
  };
  const secondCheck = validate(second.text);
  if (secondCheck.ok) return { value: secondCheck.value, result: combined, repaired: true };
  throw new DeskhandError(
    'upstream_invalid_response',
    `The model's reply did not match "${schemaName}" after one repair`,
    {
      details: { schemaName, errors: secondCheck.errors, requestId: second.requestId },
    },
  );
}

/** Parses a reply as JSON and validates it against the schema (after restoring optional fields). */
function validator<T>(schema: z.ZodType<T>, restoreOptional: (value: unknown) => unknown): (text: string) => Check<T> {
  return (text) => {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      return { ok: false, errors: `the reply is not valid JSON (${(error as Error).message})` };
    }
    const parsed = schema.safeParse(restoreOptional(raw));
    if (parsed.success) return { ok: true, value: parsed.data };
    return {
      ok: false,
      errors: parsed.error.issues
        .slice(0, 10)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; '),
    };
  };
}
