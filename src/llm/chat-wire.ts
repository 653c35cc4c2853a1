/**
 * `chatBody`, `completionReply`, `streamedReply`: one chat completion on the wire, through the `openai` SDK.
 *
 * - The request body is built once per call, before the provider is called: the port's messages, tools, tool
 *   choice and response format in OpenAI's shapes (`wire-request.ts`), temperature 0 unless given.
 * - A streamed reply asks for usage in its last chunk (`stream_options.include_usage`), passes each text delta to
 *   `onTextDelta` as it arrives, and assembles tool calls from their indexed fragments.
 * - `StreamProgress` records what a stream has delivered so far, so a stream that breaks off can be charged for it;
 *   a stream that ends without a finish reason is an interrupted one (`upstream_unavailable`, retryable).
 * - Finish reasons map onto the port's (`function_call` → `tool_calls`; anything unknown → `unknown`).
 */
import type OpenAI from 'openai';
import { DeskhandError } from '../errors.ts';
import type { ChatRequest, ChatResult, ToolCall } from '../ports/language-model.ts';
import { toWireMessages, toWireResponseFormat, toWireToolChoice, toWireTools } from './wire-request.ts';

type ChatBody = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
type RequestOptions = { timeout: number; maxRetries: number; signal: AbortSignal };

/** A provider's reply in the port's shapes, with its usage as reported (if at all). */
export interface ChatReply {
  text: string;
  toolCalls: ToolCall[];
  finishReason: ChatResult['finishReason'];
  usage: OpenAI.CompletionUsage | undefined;
  model: string;
}

/** What a stream has delivered so far (`started` once the provider accepted the request). */
export interface StreamProgress {
  started: boolean;
  text: string;
  toolArguments: string;
}

export function finishReasonOf(reason: string | null | undefined): ChatResult['finishReason'] {
  switch (reason) {
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return reason;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'unknown';
  }
}

/** The non-streaming request body of a chat call. */
export function chatBody(request: ChatRequest, model: string): ChatBody {
  return {
    model,
    messages: toWireMessages(request.messages),
    max_completion_tokens: request.maxOutputTokens,
    temperature: request.temperature ?? 0,
    ...(request.tools && request.tools.length > 0 ? { tools: toWireTools(request.tools) } : {}),
    ...(request.toolChoice ? { tool_choice: toWireToolChoice(request.toolChoice) } : {}),
    ...(request.responseFormat ? { response_format: toWireResponseFormat(request.responseFormat) } : {}),
  };
}

/** One non-streaming completion. */
export async function completionReply(
  client: OpenAI,
  body: ChatBody,
  requestOptions: RequestOptions,
): Promise<ChatReply> {
  const completion = await client.chat.completions.create(body, requestOptions);
  const choice = completion.choices[0];
  if (!choice) throw new DeskhandError('upstream_invalid_response', 'The reply has no choices');
  return {
    text: choice.message.content ?? '',
    toolCalls: (choice.message.tool_calls ?? []).flatMap((call): ToolCall[] =>
      call.type === 'function'
        ? [{ id: call.id, name: call.function.name, argumentsJson: call.function.arguments }]
        : [],
    ),
    finishReason: finishReasonOf(choice.finish_reason),
    usage: completion.usage,
    model: completion.model,
  };
}

/** One streamed completion: text deltas go to `request.onTextDelta`, progress into `stream` as it arrives. */
export async function streamedReply(
  client: OpenAI,
  body: ChatBody,
  requestOptions: RequestOptions,
  request: ChatRequest,
  model: string,
  stream: StreamProgress,
): Promise<ChatReply> {
  const chunks = await client.chat.completions.create(
    { ...body, stream: true, stream_options: { include_usage: true } },
    requestOptions,
  );
  stream.started = true;
  const calls = new Map<number, { id: string; name: string; argumentsJson: string }>();
  let finish: string | null | undefined;
  let usage: OpenAI.CompletionUsage | undefined;
  let responseModel = model;
  for await (const chunk of chunks) {
    responseModel = chunk.model || responseModel;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.content) {
      stream.text += choice.delta.content;
      request.onTextDelta?.(choice.delta.content);
    }
    for (const delta of choice.delta.tool_calls ?? []) {
      const call = calls.get(delta.index) ?? { id: '', name: '', argumentsJson: '' };
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) call.name += delta.function.name;
      if (delta.function?.arguments) {
        call.argumentsJson += delta.function.arguments;
        stream.toolArguments += delta.function.arguments;
      }
      calls.set(delta.index, call);
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  if (!finish) {
    throw new DeskhandError('upstream_unavailable', 'The stream ended before the reply was finished', {
      retryable: true,
      details: { interrupted: true },
    });
  }
  return {
    text: stream.text,
    toolCalls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call),
    finishReason: finishReasonOf(finish),
    usage,
    model: responseModel,
  };
}
