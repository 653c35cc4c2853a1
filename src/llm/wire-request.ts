/**
 * Port types → the Chat Completions wire format (openai-node's request params). One mapping, used both to send
 * requests and to count their tokens, so the count always describes what is actually sent.
 */
import type OpenAI from 'openai';
import type { ChatMessage, ChatRequest, JsonSchemaResponseFormat, ToolDefinition } from '../ports/language-model.ts';

export type WireMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;
export type WireTool = OpenAI.Chat.Completions.ChatCompletionFunctionTool;

export function toWireMessages(messages: readonly ChatMessage[]): WireMessage[] {
  return messages.map((message): WireMessage => {
    switch (message.role) {
      case 'system':
        return { role: 'system', content: message.content };
      case 'user':
        return message.name === undefined
          ? { role: 'user', content: message.content }
          : { role: 'user', content: message.content, name: message.name };
      case 'assistant':
        return message.toolCalls && message.toolCalls.length > 0
          ? {
              role: 'assistant',
              content: message.content,
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function' as const,
                function: { name: call.name, arguments: call.argumentsJson },
              })),
            }
          : { role: 'assistant', content: message.content };
      default:
        return { role: 'tool', content: message.content, tool_call_id: message.toolCallId };
    }
  });
}

export function toWireTools(tools: readonly ToolDefinition[]): WireTool[] {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  }));
}

export function toWireToolChoice(
  choice: NonNullable<ChatRequest['toolChoice']>,
): OpenAI.Chat.Completions.ChatCompletionToolChoiceOption {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

export function toWireResponseFormat(format: JsonSchemaResponseFormat): OpenAI.ResponseFormatJSONSchema {
  return {
    type: 'json_schema',
    json_schema: { name: format.name, schema: format.schema, strict: format.strict ?? true },
  };
}
