/**
 * The port every capability uses to call a model. The only implementation is the gateway in `src/llm/`,
 * which counts tokens exactly, enforces per-channel budgets, caches deterministic calls per scope and maps
 * every failure to a `DeskhandError` code. Capabilities never import the `openai` SDK.
 */
import type { z } from 'zod';

/** Who a call is made for: budgets and cache keys are scoped by this, never by prompt text. */
export interface CallScope {
  /** Tenant: `context_enterprise_id` or `context_team_id` of the request, never the envelope's team alone. */
  workspaceId: string;
  channelId: string;
  userId?: string;
  /**
   * Extra cache scope for calls whose output depends on data beyond the prompt, e.g. the document-access
   * scope and index version that built an answer's context. Part of the cache key.
   */
  cacheScope?: string;
  /** Correlates logs; also makes settlement idempotent when one logical call is retried by the caller. */
  requestId?: string;
}

export interface ToolCall {
  id: string;
  name: string;
  /** Raw JSON text as the model produced it: untrusted, validate before use. */
  argumentsJson: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string; name?: string }
  | { role: 'assistant'; content: string | null; toolCalls?: ToolCall[] }
  | { role: 'tool'; content: string; toolCallId: string };

export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the arguments (type: object). */
  parameters: Record<string, unknown>;
}

export interface JsonSchemaResponseFormat {
  type: 'json_schema';
  name: string;
  schema: Record<string, unknown>;
  strict?: boolean;
}

export interface ChatRequest {
  /** What the call is for: a metric label and part of the cache key (e.g. 'route', 'ticket', 'answer'). */
  purpose: string;
  /** Bump when the prompt changes so cached outputs of the old prompt are not reused. */
  promptVersion: string;
  messages: ChatMessage[];
  /** Defaults to the configured chat model. */
  model?: string;
  /** Upper bound on output tokens; the budget reserves input + this much output before the call. */
  maxOutputTokens: number;
  /** Defaults to 0. */
  temperature?: number;
  tools?: ToolDefinition[];
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
  responseFormat?: JsonSchemaResponseFormat;
  /**
   * Response caching. Only deterministic calls (temperature 0, no side-effecting tools) are cached;
   * `timeSensitive` uses the shorter TTL. Default: enabled when temperature is 0 and no tools are given.
   */
  cache?: { enabled: boolean; timeSensitive?: boolean };
  /** Absolute time (ms since epoch) by which the call must finish, retries included. */
  deadline?: number;
  signal?: AbortSignal;
  /** When given, the call streams and this receives text as it arrives. */
  onTextDelta?: (delta: string) => void;
  /**
   * This request's input tokens as `countChatTokens` counted them, for a caller that already counted (e.g. to check
   * a cost cap before the call): the gateway reserves and settles with it instead of counting the request again.
   * Trusted as given, so only in-process code that got it from `countChatTokens` for this very request may set it —
   * never a value from outside the process. Not part of the cache key. For `structured`, it must count the request
   * as the gateway sends it (response format included), and it applies to the first call only, never the repair.
   */
  inputTokens?: number;
}

export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

export interface ChatResult {
  text: string;
  toolCalls: ToolCall[];
  finishReason: 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'unknown';
  usage: TokenUsage;
  /** What this call cost (0 when served from cache), in integer micro-dollars. */
  costMicroUsd: number;
  fromCache: boolean;
  /** What a cache hit saved, in micro-dollars (0 on a miss). */
  savedMicroUsd: number;
  model: string;
  requestId: string;
}

export interface StructuredRequest<T> extends Omit<ChatRequest, 'responseFormat' | 'onTextDelta'> {
  schema: z.ZodType<T>;
  schemaName: string;
}

export interface StructuredResult<T> {
  value: T;
  result: ChatResult;
  /** True when the first reply failed validation and one repair call fixed it. */
  repaired: boolean;
}

export interface EmbeddingResult {
  vectors: Float32Array[];
  inputTokens: number;
  costMicroUsd: number;
}

export interface LanguageModelGateway {
  /**
   * One chat completion under the scope's budget. Throws `DeskhandError` with codes such as `over_budget`,
   * `budget_unenforceable`, `upstream_unavailable`, `upstream_quota_exhausted`, `deadline_exceeded`.
   */
  chat(request: ChatRequest, scope: CallScope): Promise<ChatResult>;
  /**
   * A chat completion whose reply must match `schema` (sent as a `json_schema` response format). One repair
   * call feeds back validation errors; a second failure throws `upstream_invalid_response`.
   */
  structured<T>(request: StructuredRequest<T>, scope: CallScope): Promise<StructuredResult<T>>;
  /** Embeddings for texts, batched within the API's per-request limits, under the scope's budget. */
  embed(texts: string[], scope: CallScope, options?: { purpose?: string; deadline?: number }): Promise<EmbeddingResult>;
  /** Exact input tokens of a chat request as the gateway counts it (framing, tools and schema included). */
  countChatTokens(request: ChatRequest): number;
}
