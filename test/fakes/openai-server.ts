/**
 * FakeOpenAIServer — an OpenAI-compatible HTTP server for tests and benchmarks (127.0.0.1, port 0).
 *
 * It speaks the real wire format of `POST /v1/chat/completions` (JSON and SSE streaming) and `POST /v1/embeddings`
 * (float and base64), and validates every request body against the official OpenAPI 3.1 subset in
 * `test/fixtures/openai/openai-subset-chat-embeddings-errors.json.gz` (ajv, JSON Schema 2020-12). A body that
 * violates the spec is recorded in `violations` and answered with 400 and the spec's `ErrorResponse` shape, so a
 * client bug fails loudly instead of being papered over.
 *
 * ## API
 * ```ts
 * const fake = await FakeOpenAIServer.start({ whenEmpty: 'default' });   // or 'error' (500 "unscripted call")
 * const client = new OpenAI({ apiKey: 'test', baseURL: fake.baseURL });   // baseURL ends in /v1
 * fake.enqueueChat({ content: 'Hello' });                                 // scripted replies, served in order
 * fake.enqueueChat({ toolCalls: [{ name: 'lookup', arguments: '{"id":1}' }] });
 * fake.enqueueChat({ content: '{"a":1}', usage: { completionTokens: 5 } }); // override reported usage
 * fake.enqueueChat({ fault: 'rate_limit', retryAfterSeconds: 1 });        // 429 + retry-after
 * fake.enqueueChat({ fault: 'insufficient_quota' });                      // 429 insufficient_quota
 * fake.enqueueChat({ fault: 'server_error', status: 503 });               // 5xx
 * fake.enqueueChat({ fault: 'hang' });                                    // never answers (client must time out)
 * fake.enqueueChat({ fault: 'malformed_json' });                          // 200 with a truncated JSON body
 * fake.enqueueChat({ fault: 'interrupted_stream', afterChunks: 2 });      // SSE cut off (socket destroyed)
 * fake.enqueueChat({ content: 'slow', delayMs: 200 });                    // any reply can be delayed
 * fake.enqueueEmbeddings({ fault: 'server_error' });                      // embeddings have their own queue
 * fake.calls            // every request: { path, body, rawBody, headers, at }
 * fake.chatCalls()      // only chat bodies;  fake.embeddingCalls()
 * fake.violations       // spec violations found in request bodies
 * fake.pendingChat()    // scripted chat replies not yet consumed
 * fake.reset()          // clears queues, calls and violations
 * await fake.close()
 * FakeOpenAIServer.start({ validate: false })   // skip spec validation (benchmarks only)
 * FakeOpenAIServer.start({ respond: (body) => ({ content: '…' }) }) // answer unscripted calls from the request
 * fakeEmbedding(text, dimensions)               // the vector the fake returns for a text
 * fakePromptTokens(wireBody)                    // the prompt_tokens the fake reports for a request body
 * openAISpecValidators()                        // ajv validators for the spec's request/response schemas
 * ```
 * Error bodies follow the spec's `ErrorResponse`: `{ error: { message, type, param, code } }`.
 * When the chat queue is empty: `whenEmpty: 'default'` answers "OK" (or, when the request asks for a `json_schema`
 * response format, a minimal JSON value that satisfies the schema); `whenEmpty: 'error'` answers 500 and records the
 * call, so a test sees exactly which call it did not script. Embeddings are deterministic without scripting: each
 * vector is derived from a SHA-256 of the text and L2-normalised; `dimensions` is honoured (default 1536).
 *
 * `usage` is realistic: prompt tokens are counted with tiktoken from the wire body following OpenAI's cookbook
 * ("How to count tokens with tiktoken": 3 tokens per message, 1 per name, 3 to prime the reply, and the cookbook's
 * constants for function definitions; a `json_schema` response format counts as the tokens of its JSON text).
 * Completion tokens are the tokens of the reply text (or of the tool-call names and arguments). Streaming sends a
 * final usage chunk only when `stream_options.include_usage` is true, as the API does.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Ajv2020Module, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { get_encoding, type Tiktoken } from 'tiktoken';
import { fixturesDirectory, readFixtureText } from '../support/fixtures.ts';

export const openAISpecPath = `${fixturesDirectory}/openai/openai-subset-chat-embeddings-errors.json.gz`;

export type FakeFault =
  | { fault: 'rate_limit'; retryAfterSeconds?: number; retryAfterMs?: number }
  | { fault: 'insufficient_quota' }
  | { fault: 'server_error'; status?: number }
  | { fault: 'bad_request'; message?: string }
  | { fault: 'hang' }
  | { fault: 'malformed_json' }
  | { fault: 'interrupted_stream'; afterChunks?: number; content?: string };

export interface FakeChatReply {
  content?: string | null;
  toolCalls?: Array<{ name: string; arguments: string; id?: string }>;
  finishReason?: 'stop' | 'length' | 'tool_calls' | 'content_filter';
  /** Override the reported usage (defaults: counted with tiktoken). */
  usage?: { promptTokens?: number; completionTokens?: number; cachedTokens?: number };
  model?: string;
}

export type FakeChatScript = (FakeChatReply | FakeFault) & { delayMs?: number };
export type FakeEmbeddingsScript = ({ ok: true } | FakeFault) & { delayMs?: number };

export interface RecordedCall {
  path: string;
  body: unknown;
  /** The request body exactly as it arrived (UTF-8), for tests that must see what went over the wire. */
  rawBody: string;
  headers: Record<string, string | string[] | undefined>;
  at: number;
}

export interface SpecViolation {
  path: string;
  errors: string[];
}

export interface FakeOpenAIServerOptions {
  /** What an unscripted chat call gets: 'default' → "OK" (or a schema-satisfying JSON value); 'error' → 500. */
  whenEmpty?: 'default' | 'error';
  /** Validate request bodies against the OpenAPI spec (default true; the bench turns it off to measure the client). */
  validate?: boolean;
  /**
   * Answers a chat call the queue has no script for, from its wire body (before `whenEmpty` applies): return a
   * reply or a fault, or undefined to fall through to `whenEmpty`. Lets a demo act like a plausible model.
   */
  respond?: (body: Record<string, unknown>) => FakeChatScript | undefined;
}

// --- OpenAPI validation ---------------------------------------------------------------------------------------

const Ajv2020 = Ajv2020Module as unknown as typeof Ajv2020Module.default;
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * The spec is OpenAPI 3.1 (JSON Schema 2020-12) but still carries the 3.0 keyword `nullable` in places; ajv rejects
 * `nullable` without `type`. We translate it the way its authors meant: `type: X, nullable: true` → `type: [X, 'null']`,
 * also admit null in an `enum`, and drop it where there is no `type` (those schemas already admit null through `anyOf`/`oneOf`).
 */
function normaliseNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normaliseNullable);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = normaliseNullable(value);
  if ('nullable' in out) {
    const nullable = out.nullable === true;
    delete out.nullable;
    if (nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (nullable && Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null'];
    if (nullable && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  return out;
}

interface SpecValidators {
  chatRequest: ValidateFunction;
  embeddingsRequest: ValidateFunction;
  chatResponse: ValidateFunction;
  chatStreamChunk: ValidateFunction;
  embeddingsResponse: ValidateFunction;
  errorResponse: ValidateFunction;
}

let validators: SpecValidators | undefined;

/** Ajv validators for the spec's request/response schemas (compiled once per process). */
export function openAISpecValidators(): SpecValidators {
  if (validators) return validators;
  const spec = JSON.parse(readFixtureText(openAISpecPath)) as { components: unknown };
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('unixtime', { type: 'number', validate: (value: number) => Number.isInteger(value) && value >= 0 });
  ajv.addSchema({ $id: 'openai', components: normaliseNullable(spec.components) });
  const get = (name: string): ValidateFunction => {
    const validate = ajv.getSchema(`openai#/components/schemas/${name}`);
    if (!validate) throw new Error(`schema ${name} missing from ${openAISpecPath}`);
    return validate;
  };
  validators = {
    chatRequest: get('CreateChatCompletionRequest'),
    embeddingsRequest: get('CreateEmbeddingRequest'),
    chatResponse: get('CreateChatCompletionResponse'),
    chatStreamChunk: get('CreateChatCompletionStreamResponse'),
    embeddingsResponse: get('CreateEmbeddingResponse'),
    errorResponse: get('ErrorResponse'),
  };
  return validators;
}

function describeErrors(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).slice(0, 20).map((error) => `${error.instancePath || '/'} ${error.message ?? ''}`);
}

// --- token counting (cookbook method, on the wire format) -------------------------------------------------------

const encoders = new Map<string, Tiktoken>();
function encoderFor(model: string): Tiktoken {
  const name = /^(gpt-4o|gpt-4\.1|gpt-5|o\d|chatgpt-4o)/.test(model) ? 'o200k_base' : 'cl100k_base';
  let encoder = encoders.get(name);
  if (!encoder) {
    encoder = get_encoding(name);
    encoders.set(name, encoder);
  }
  return encoder;
}
const tokens = (encoder: Tiktoken, text: string) => (text ? encoder.encode_ordinary(text).length : 0);

interface WireMessage {
  role: string;
  content?: unknown;
  name?: string;
  tool_calls?: Array<{ function?: { name?: string; arguments?: string } }>;
}
interface WireTool {
  type?: string;
  function?: { name?: string; description?: string; parameters?: { properties?: Record<string, WireProperty> } };
}
interface WireProperty {
  type?: unknown;
  description?: string;
  enum?: unknown[];
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && 'text' in part ? String(part.text) : ''))
      .join('');
  }
  return '';
}

/** Prompt tokens the fake reports: independent of the gateway's counter, written from the cookbook. */
export function fakePromptTokens(body: Record<string, unknown>): number {
  const encoder = encoderFor(String(body.model ?? ''));
  let total = 0;
  for (const message of (body.messages as WireMessage[] | undefined) ?? []) {
    total += 3 + tokens(encoder, message.role) + tokens(encoder, contentText(message.content));
    if (message.name) total += 1 + tokens(encoder, message.name);
    for (const call of message.tool_calls ?? []) {
      total += tokens(encoder, call.function?.name ?? '') + tokens(encoder, call.function?.arguments ?? '');
    }
  }
  total += 3;
  const tools = (body.tools as WireTool[] | undefined) ?? [];
  if (tools.length > 0) {
    for (const tool of tools) {
      const fn = tool.function ?? {};
      total += 7 + tokens(encoder, `${fn.name ?? ''}:${(fn.description ?? '').replace(/\.$/, '')}`);
      const properties = fn.parameters?.properties ?? {};
      if (Object.keys(properties).length > 0) {
        total += 3;
        for (const [key, property] of Object.entries(properties)) {
          total += 3;
          if (Array.isArray(property.enum)) {
            total -= 3;
            for (const item of property.enum) total += 3 + tokens(encoder, String(item));
          }
          const type = Array.isArray(property.type) ? property.type.join('|') : String(property.type ?? '');
          total += tokens(encoder, `${key}:${type}:${(property.description ?? '').replace(/\.$/, '')}`);
        }
      }
    }
    total += 12;
  }
  const format = body.response_format as { type?: string; json_schema?: unknown } | undefined;
  if (format?.type === 'json_schema') total += tokens(encoder, JSON.stringify(format.json_schema));
  return total;
}

// --- schema-satisfying default values ---------------------------------------------------------------------------

function sampleFor(schema: unknown, definitions: Record<string, unknown>, depth = 0): unknown {
  if (!schema || typeof schema !== 'object' || depth > 8) return null;
  const node = schema as Record<string, unknown>;
  if (typeof node.$ref === 'string') {
    const name = node.$ref.split('/').pop() ?? '';
    return sampleFor(definitions[name], definitions, depth + 1);
  }
  if (Array.isArray(node.enum)) return node.enum[0];
  if ('const' in node) return node.const;
  const variants = (node.anyOf ?? node.oneOf) as unknown[] | undefined;
  if (Array.isArray(variants)) return sampleFor(variants[0], definitions, depth + 1);
  const type = Array.isArray(node.type) ? node.type.find((t) => t !== 'null') : node.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const properties = (node.properties ?? {}) as Record<string, unknown>;
      for (const key of (node.required as string[] | undefined) ?? Object.keys(properties)) {
        out[key] = sampleFor(properties[key], definitions, depth + 1);
      }
      return out;
    }
    case 'array':
      return [];
    case 'string':
      return '';
    case 'integer':
    case 'number':
      return typeof node.minimum === 'number' ? node.minimum : 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

// --- embeddings ---------------------------------------------------------------------------------------------------

/** The fake's deterministic, L2-normalised vector for a text (exported so tests can compare). */
export function fakeEmbedding(text: string, dimensions = 1536): Float32Array {
  const vector = new Float32Array(dimensions);
  let block = createHash('sha256').update(text).digest();
  for (let index = 0; index < dimensions; index += 1) {
    const offset = (index * 2) % block.length;
    if (offset === 0 && index > 0) block = createHash('sha256').update(block).digest();
    vector[index] = (block.readUInt16BE(offset) - 32768) / 32768;
  }
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm) || 1;
  for (let index = 0; index < dimensions; index += 1) vector[index] = (vector[index] ?? 0) / norm;
  return vector;
}

// --- the server ---------------------------------------------------------------------------------------------------

function errorBody(message: string, type: string, code: string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

export class FakeOpenAIServer {
  readonly calls: RecordedCall[] = [];
  readonly violations: SpecViolation[] = [];
  private readonly chatQueue: FakeChatScript[] = [];
  private readonly embeddingsQueue: FakeEmbeddingsScript[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private readonly options: Required<Omit<FakeOpenAIServerOptions, 'respond'>>;
  private readonly respond: FakeOpenAIServerOptions['respond'];
  private port = 0;

  private constructor(options: FakeOpenAIServerOptions) {
    this.options = { whenEmpty: options.whenEmpty ?? 'default', validate: options.validate ?? true };
    this.respond = options.respond;
    if (this.options.validate) openAISpecValidators();
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.json(response, 500, errorBody(String(error), 'server_error', null));
        else response.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts a server on 127.0.0.1 with an OS-assigned port. */
  static async start(options: FakeOpenAIServerOptions = {}): Promise<FakeOpenAIServer> {
    const fake = new FakeOpenAIServer(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** Base URL for the `openai` client (`.../v1`). */
  get baseURL(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  enqueueChat(...scripts: FakeChatScript[]): this {
    this.chatQueue.push(...scripts);
    return this;
  }

  enqueueEmbeddings(...scripts: FakeEmbeddingsScript[]): this {
    this.embeddingsQueue.push(...scripts);
    return this;
  }

  pendingChat(): number {
    return this.chatQueue.length;
  }

  chatCalls(): Array<Record<string, unknown>> {
    return this.calls.filter((call) => call.path.endsWith('/chat/completions')).map((call) => call.body as never);
  }

  embeddingCalls(): Array<Record<string, unknown>> {
    return this.calls.filter((call) => call.path.endsWith('/embeddings')).map((call) => call.body as never);
  }

  reset(): void {
    this.calls.length = 0;
    this.violations.length = 0;
    this.chatQueue.length = 0;
    this.embeddingsQueue.length = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-request-id': `req_${randomUUID().replaceAll('-', '')}`,
      ...headers,
    });
    response.end(text);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const route = path.replace(/^\/v1/, '');
    if (request.method !== 'POST' || (route !== '/chat/completions' && route !== '/embeddings')) {
      this.json(response, 404, errorBody(`Unknown route ${request.method} ${path}`, 'invalid_request_error', null));
      return;
    }
    let body: Record<string, unknown>;
    const rawBody = Buffer.concat(chunks).toString('utf8');
    try {
      body = JSON.parse(rawBody) as Record<string, unknown>;
    } catch {
      this.violations.push({ path, errors: ['body is not JSON'] });
      this.json(
        response,
        400,
        errorBody('We could not parse the JSON body of your request.', 'invalid_request_error', null),
      );
      return;
    }
    this.calls.push({ path, body, rawBody, headers: request.headers, at: Date.now() });
    if (!request.headers.authorization?.startsWith('Bearer ')) {
      this.json(response, 401, errorBody("You didn't provide an API key.", 'invalid_request_error', 'invalid_api_key'));
      return;
    }
    if (this.options.validate) {
      const spec = openAISpecValidators();
      const validate = route === '/chat/completions' ? spec.chatRequest : spec.embeddingsRequest;
      if (!validate(body)) {
        const errors = describeErrors(validate);
        this.violations.push({ path, errors });
        this.json(response, 400, errorBody(`Invalid request: ${errors.join('; ')}`, 'invalid_request_error', null));
        return;
      }
    }
    if (route === '/chat/completions') await this.chat(body, response);
    else await this.embeddings(body, response);
  }

  /** Answers a fault; returns false when the script is not a fault. */
  private async fault(script: FakeFault | object, response: ServerResponse): Promise<boolean> {
    if (!('fault' in script)) return false;
    switch (script.fault) {
      case 'rate_limit': {
        const headers: Record<string, string> = {};
        if (script.retryAfterSeconds !== undefined) headers['retry-after'] = String(script.retryAfterSeconds);
        if (script.retryAfterMs !== undefined) headers['retry-after-ms'] = String(script.retryAfterMs);
        this.json(
          response,
          429,
          errorBody('Rate limit reached for requests. Please try again later.', 'requests', 'rate_limit_exceeded'),
          headers,
        );
        return true;
      }
      case 'insufficient_quota':
        this.json(
          response,
          429,
          errorBody(
            'You exceeded your current quota, please check your plan and billing details.',
            'insufficient_quota',
            'insufficient_quota',
          ),
        );
        return true;
      case 'server_error':
        this.json(response, script.status ?? 500, errorBody('The server had an error.', 'server_error', null));
        return true;
      case 'bad_request':
        this.json(response, 400, errorBody(script.message ?? 'Bad request.', 'invalid_request_error', null));
        return true;
      case 'hang':
        // Never answer; the socket is destroyed by the client's timeout or by close().
        return true;
      case 'malformed_json':
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"mess');
        return true;
      case 'interrupted_stream':
        return false;
    }
  }

  private async chat(body: Record<string, unknown>, response: ServerResponse): Promise<void> {
    const script = this.chatQueue.shift() ?? this.respond?.(body);
    if (script?.delayMs) await new Promise((resolve) => setTimeout(resolve, script.delayMs));
    if (!script && this.options.whenEmpty === 'error') {
      this.json(response, 500, errorBody('FakeOpenAIServer: unscripted chat call', 'server_error', 'unscripted'));
      return;
    }
    if (script && (await this.fault(script, response))) return;
    const model = String(body.model);
    const encoder = encoderFor(model);
    const reply: FakeChatReply = script && !('fault' in script) ? script : {};
    const interrupted = script && 'fault' in script && script.fault === 'interrupted_stream' ? script : undefined;
    let content: string | null = reply.content !== undefined ? reply.content : null;
    if (interrupted) content = interrupted.content ?? 'This reply will be cut off before it ends.';
    const toolCalls = (reply.toolCalls ?? []).map((call, index) => ({
      id: call.id ?? `call_${index}_${randomUUID().slice(0, 8)}`,
      type: 'function' as const,
      function: { name: call.name, arguments: call.arguments },
    }));
    if (content === null && toolCalls.length === 0) {
      const format = body.response_format as { type?: string; json_schema?: { schema?: Record<string, unknown> } };
      if (format?.type === 'json_schema') {
        const schema = format.json_schema?.schema ?? {};
        content = JSON.stringify(sampleFor(schema, (schema.$defs ?? schema.definitions ?? {}) as never));
      } else {
        content = 'OK';
      }
    }
    const finishReason = reply.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    const promptTokens = reply.usage?.promptTokens ?? fakePromptTokens(body);
    const completionTokens =
      reply.usage?.completionTokens ??
      tokens(encoder, content ?? '') +
        toolCalls.reduce((sum, call) => sum + tokens(encoder, call.function.name + call.function.arguments), 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: reply.usage?.cachedTokens ?? 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
    const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const created = Math.floor(Date.now() / 1000);
    const responseModel = reply.model ?? model;

    if (body.stream === true) {
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const base = {
        id,
        object: 'chat.completion.chunk',
        created,
        model: responseModel,
        system_fingerprint: 'fp_fake',
      };
      const events: unknown[] = [
        {
          ...base,
          choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
        },
      ];
      const pieces = content ? (content.match(/[\s\S]{1,12}/g) ?? []) : [];
      for (const piece of pieces) {
        events.push({
          ...base,
          choices: [{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }],
        });
      }
      toolCalls.forEach((call, index) => {
        events.push({
          ...base,
          choices: [{ index: 0, delta: { tool_calls: [{ index, ...call }] }, logprobs: null, finish_reason: null }],
        });
      });
      events.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }] });
      if (includeUsage) events.push({ ...base, choices: [], usage });
      const cutAfter = interrupted ? (interrupted.afterChunks ?? 2) : Number.POSITIVE_INFINITY;
      response.flushHeaders();
      for (const [index, event] of events.entries()) {
        if (index >= cutAfter) {
          // Let the client receive what was written before the connection drops, as when a proxy cuts a stream.
          await new Promise((resolve) => setTimeout(resolve, 20));
          response.socket?.destroy();
          return;
        }
        await new Promise<void>((resolve) => response.write(`data: ${JSON.stringify(event)}\n\n`, () => resolve()));
      }
      response.end('data: [DONE]\n\n');
      return;
    }
    if (interrupted) {
      // A non-streaming call cannot be "interrupted" mid-body more realistically than by dropping the socket.
      response.socket?.destroy();
      return;
    }
    this.json(response, 200, {
      id,
      object: 'chat.completion',
      created,
      model: responseModel,
      system_fingerprint: 'fp_fake',
      service_tier: 'default',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content,
            refusal: null,
            annotations: [],
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage,
    });
  }

  private async embeddings(body: Record<string, unknown>, response: ServerResponse): Promise<void> {
    const script = this.embeddingsQueue.shift();
    if (script?.delayMs) await new Promise((resolve) => setTimeout(resolve, script.delayMs));
    if (script && (await this.fault(script, response))) return;
    const model = String(body.model);
    const encoder = encoderFor(model);
    const raw = body.input;
    const inputs: string[] = (Array.isArray(raw) ? raw : [raw]).map((item) =>
      typeof item === 'string' ? item : Array.isArray(item) ? item.join(',') : String(item),
    );
    const dimensions = typeof body.dimensions === 'number' ? body.dimensions : 1536;
    const base64 = body.encoding_format === 'base64';
    let promptTokens = 0;
    const data = inputs.map((text, index) => {
      promptTokens += tokens(encoder, text);
      const vector = fakeEmbedding(text, dimensions);
      return {
        object: 'embedding',
        index,
        embedding: base64
          ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64')
          : Array.from(vector),
      };
    });
    this.json(response, 200, {
      object: 'list',
      data,
      model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }
}
