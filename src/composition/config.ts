/**
 * Configuration: the only module that reads `process.env`. Validated once at start-up with zod; every
 * problem is reported at once with how to fix it. Empty strings count as unset (t3-env's rule), so a blank
 * line in `.env` never turns into a value.
 *
 * Add a variable here, in `.env.example` and in the README's configuration table, together.
 */
import { z } from 'zod';
import { defaultTicketCategories } from '../capabilities/tickets/ticket-schema.ts';
import { modelPricesProblem } from '../llm/prices.ts';
import { parseRedactList, type RedactionKind } from '../llm/redaction-policy.ts';
import {
  isOpenAIHost,
  parseUnknownModelPrice,
  type UnknownModelPolicy,
  unknownModelPolicy,
  unknownModelPricePattern,
} from '../llm/unknown-models.ts';
import {
  type OAuthConfiguration,
  oauthConfiguration,
  oauthHints,
  oauthProblems,
  oauthSchemaFields,
} from './oauth-config.ts';
import { type RedisTopology, redisHints, redisProblems, redisSchemaFields, redisTopology } from './redis-config.ts';

const emptyAsUnset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const optionalString = z.preprocess(emptyAsUnset, z.string().optional());
const stringWithDefault = (fallback: string) => z.preprocess(emptyAsUnset, z.string().default(fallback));
const integerWithDefault = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyAsUnset, z.coerce.number().int().min(min).max(max).default(fallback));
const numberWithDefault = (fallback: number, min = 0) =>
  z.preprocess(emptyAsUnset, z.coerce.number().min(min).default(fallback));
const booleanWithDefault = (fallback: boolean) =>
  z.preprocess((value) => {
    const unset = emptyAsUnset(value);
    if (unset === undefined) return undefined;
    return ['1', 'true', 'yes', 'on'].includes(String(unset).toLowerCase());
  }, z.boolean().default(fallback));
const idList = z.preprocess(
  (value) =>
    (emptyAsUnset(value) as string | undefined)
      ?.split(',')
      .map((part) => part.trim())
      .filter(Boolean) ?? [],
  z.array(z.string().regex(/^[UWSB][A-Z0-9]+$/, 'must be Slack ids such as U0123ABCD, separated by commas')),
);
const stringList = (fallback: string[]) =>
  z.preprocess(
    (value) =>
      (emptyAsUnset(value) as string | undefined)
        ?.split(',')
        .map((part) => part.trim())
        .filter(Boolean) ?? fallback,
    z.array(z.string().min(1)),
  );
const optionalUrl = () => z.preprocess(emptyAsUnset, z.url().optional());
const urlWithDefault = (fallback: string) => z.preprocess(emptyAsUnset, z.url().default(fallback));

const modelPrices = z.preprocess(
  emptyAsUnset,
  z
    .string()
    .optional()
    .superRefine((json, context) => {
      const problem = json === undefined ? undefined : modelPricesProblem(json);
      const message = problem?.replace(/^MODEL_PRICES_JSON is (invalid: )?/, '');
      if (message) context.addIssue({ code: 'custom', message });
    }),
);
const unknownModelPrice = z.preprocess(
  emptyAsUnset,
  z
    .string()
    .trim()
    .regex(unknownModelPricePattern, 'must be "input,output" in USD per million tokens, or "none"')
    .transform(parseUnknownModelPrice)
    .optional(),
);

const redactList = z.preprocess(
  emptyAsUnset,
  z
    .string()
    .optional()
    .transform((text, context) => {
      const parsed = parseRedactList(text);
      if (parsed.ok) return parsed.kinds;
      context.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    }),
);

const timeZone = z.preprocess(
  emptyAsUnset,
  z
    .string()
    .default('UTC')
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as Europe/Berlin'),
);

/** Each variable with the hint shown when it is wrong. */
const hints: Record<string, string> = {
  SLACK_BOT_TOKEN: 'the Bot User OAuth Token (xoxb-…) from your Slack app’s "OAuth & Permissions" page',
  SLACK_SIGNING_SECRET: 'the Signing Secret from your Slack app’s "Basic Information" page',
  SLACK_APP_TOKEN: 'an app-level token (xapp-…) with connections:write, only for Socket Mode; leave unset for HTTP',
  SLACK_API_URL: 'the Web API base URL ending in /api/, e.g. https://slack.com/api/',
  SOCKET_MODE_CLIENT_PING_TIMEOUT_MS:
    'milliseconds (1000–60000) Socket Mode waits for the pong to its ping before it drops the connection; also the wait before reconnecting',
  SOCKET_MODE_SERVER_PING_TIMEOUT_MS:
    'milliseconds (1000–600000) Socket Mode waits for Slack’s next ping before it drops the connection and reconnects',
  ...oauthHints,
  PORT: 'a TCP port number between 1 and 65535',
  ADMIN_API_TOKEN:
    'a random secret of at least 32 characters (e.g. openssl rand -hex 32) for POST /admin/ingest; leave unset to turn the endpoint off',
  OPENAI_BASE_URL: 'the base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1',
  MODEL_PRICES_JSON:
    'a JSON object of model → {"inputPerMillionUsd":…,"cachedInputPerMillionUsd":…,"outputPerMillionUsd":…} (USD per million tokens)',
  UNKNOWN_MODEL_PRICE:
    'the price of models missing from the price table as input,output USD per million tokens (e.g. 0.2,0.6; 0,0 for a free local model), or "none" to refuse them',
  REDACT:
    'comma-separated kinds of personal data to mask before every model call: emails, phones, ibans (cards and secrets are always masked)',
  ...redisHints,
  QDRANT_URL: 'the Qdrant REST URL, e.g. http://127.0.0.1:6333; leave unset to use the embedded index',
  ADMIN_USER_IDS: 'comma-separated Slack user ids (U…)',
  APPROVER_USER_IDS: 'comma-separated Slack user ids (U…)',
  TIME_ZONE: 'an IANA time zone such as Europe/Berlin',
};

export const configurationSchema = z.object({
  NODE_ENV: stringWithDefault('production'),
  LOG_LEVEL: z.preprocess(
    emptyAsUnset,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),

  // Slack
  // Required unless OAuth distribution is configured (crossFieldProblems).
  SLACK_BOT_TOKEN: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .regex(/^xoxb-/, 'must start with xoxb-')
      .optional(),
  ),
  ...oauthSchemaFields,
  SLACK_SIGNING_SECRET: z.preprocess(emptyAsUnset, z.string().min(8, 'looks too short')),
  SLACK_APP_TOKEN: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .regex(/^xapp-/, 'must start with xapp-')
      .optional(),
  ),
  SLACK_API_URL: urlWithDefault('https://slack.com/api/'),
  SLACK_REQUEST_TIMEOUT_MS: integerWithDefault(10_000, 100),
  SLACK_MAX_FUTURE_SKEW_SECONDS: integerWithDefault(60, 0, 300),
  // A half-open WebSocket (a NAT or proxy that dropped it silently) is only noticed by these (app.ts).
  SOCKET_MODE_CLIENT_PING_TIMEOUT_MS: integerWithDefault(5_000, 1_000, 60_000),
  SOCKET_MODE_SERVER_PING_TIMEOUT_MS: integerWithDefault(30_000, 1_000, 600_000),
  PORT: integerWithDefault(3000, 1, 65535),
  ADMIN_API_TOKEN: z.preprocess(emptyAsUnset, z.string().min(32, 'looks too short').optional()),

  // Models
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: urlWithDefault('https://api.openai.com/v1'),
  OPENAI_MODEL: stringWithDefault('gpt-4o-mini'),
  OPENAI_CLASSIFIER_MODEL: optionalString,
  OPENAI_EMBEDDING_MODEL: stringWithDefault('text-embedding-3-small'),
  OPENAI_EMBEDDING_DIMENSIONS: integerWithDefault(1536, 1, 4096),
  OPENAI_TIMEOUT_MS: integerWithDefault(60_000, 100),
  TOKENIZER_FALLBACK_ENCODING: z.preprocess(emptyAsUnset, z.enum(['o200k_base', 'cl100k_base']).optional()),
  MODEL_PRICES_JSON: modelPrices,
  UNKNOWN_MODEL_PRICE: unknownModelPrice,
  REDACT: redactList,

  // Budgets and cache
  TIME_ZONE: timeZone,
  BUDGET_CHANNEL_DAILY_USD: numberWithDefault(5),
  BUDGET_CHANNEL_MONTHLY_USD: numberWithDefault(50),
  BUDGET_WORKSPACE_DAILY_USD: numberWithDefault(50),
  BUDGET_RESERVATION_TTL_SECONDS: integerWithDefault(600, 10),
  // What one person may spend per day in a workspace; unset: no per-user cap, 0: the person may not spend.
  USER_DAILY_CAP_USD: z.preprocess(emptyAsUnset, z.coerce.number().min(0).optional()),
  CACHE_TTL_SECONDS: integerWithDefault(86_400, 0),
  CACHE_TTL_TIME_SENSITIVE_SECONDS: integerWithDefault(900, 0),

  // Stores
  ...redisSchemaFields,
  REDIS_KEY_PREFIX: stringWithDefault('dh:'),
  QDRANT_URL: optionalUrl(),
  QDRANT_API_KEY: optionalString,
  QDRANT_COLLECTION: stringWithDefault('deskhand_chunks'),
  DATA_DIR: stringWithDefault('./data'),

  // People
  ADMIN_USER_IDS: idList,
  APPROVER_USER_IDS: idList,
  APPROVER_USER_GROUP_ID: optionalString,
  ALLOW_SELF_APPROVAL: booleanWithDefault(false),

  // Routing and conversation
  THREAD_CONTEXT_TOKENS: integerWithDefault(3000, 100),
  WORK_THREAD: booleanWithDefault(true),
  WORK_THREADS: integerWithDefault(2, 1, 16),

  // Tickets
  TICKET_REACTION: stringWithDefault('ticket'),
  TICKET_CATEGORIES: stringList([...defaultTicketCategories]),
  TICKET_TRIAGE_CHANNEL_ID: optionalString,
  TICKET_WEBHOOK_URL: optionalUrl(),
  TICKET_WEBHOOK_SECRET: optionalString,
  TEAM_LANGUAGE: stringWithDefault('en'),

  // Retrieval
  RETRIEVAL_MODE: z.preprocess(emptyAsUnset, z.enum(['hybrid', 'dense', 'sparse']).default('hybrid')),
  RETRIEVAL_CONTEXT_TOKENS: integerWithDefault(2500, 100),
  RERANKER_ENABLED: booleanWithDefault(false),
  MAX_UPLOAD_BYTES: integerWithDefault(20 * 1024 * 1024, 1024),

  // Agent
  AGENT_MAX_STEPS: integerWithDefault(8, 1, 100),
  AGENT_MAX_TOOL_CALLS: integerWithDefault(12, 1, 200),
  AGENT_MAX_RUN_USD: numberWithDefault(0.5),
  AGENT_MAX_RUN_SECONDS: integerWithDefault(300, 5),
  APPROVAL_TTL_SECONDS: integerWithDefault(86_400, 60),
});

type RawConfiguration = z.infer<typeof configurationSchema>;

/** The validated configuration, with names the code uses. */
export interface Configuration {
  nodeEnvironment: string;
  logLevel: RawConfiguration['LOG_LEVEL'];
  slack: {
    /** The one workspace's token in single-token mode; '' in OAuth mode (tokens come from the installation store). */
    botToken: string;
    /** OAuth distribution: set when SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are. */
    oauth: OAuthConfiguration | undefined;
    signingSecret: string;
    appToken: string | undefined;
    apiUrl: string;
    requestTimeoutMs: number;
    maxFutureSkewSeconds: number;
    /** How long Socket Mode waits for a pong, or for Slack's next ping, before it drops and reopens the socket. */
    socketMode: { clientPingTimeoutMs: number; serverPingTimeoutMs: number };
  };
  port: number;
  /** `ADMIN_API_TOKEN`: the bearer token of `POST /admin/ingest`; unset, the endpoint does not exist. */
  adminApiToken: string | undefined;
  openai: {
    apiKey: string | undefined;
    baseURL: string;
    model: string;
    classifierModel: string;
    embeddingModel: string;
    embeddingDimensions: number;
    timeoutMs: number;
    fallbackEncoding: 'o200k_base' | 'cl100k_base' | undefined;
    pricesJson: string | undefined;
    /** What a model missing from the price table costs (`UNKNOWN_MODEL_PRICE`, or the default for the server). */
    unknownModels: UnknownModelPolicy;
    /** `REDACT`: kinds masked before every model call, besides cards and secrets (always masked). */
    redact: RedactionKind[];
  };
  budgets: {
    timeZone: string;
    channelDailyUsd: number;
    channelMonthlyUsd: number;
    workspaceDailyUsd: number;
    reservationTtlSeconds: number;
    /** `USER_DAILY_CAP_USD`: one person's daily cap per workspace; undefined: no per-user cap. */
    userDailyUsd: number | undefined;
  };
  cache: { ttlSeconds: number; timeSensitiveTtlSeconds: number };
  /** `url`: the one server's URL (REDIS_URL, default redis://127.0.0.1:6379); `topology`: what create-redis.ts opens. */
  redis: { url: string; keyPrefix: string; topology: RedisTopology };
  qdrant: { url: string | undefined; apiKey: string | undefined; collection: string };
  dataDir: string;
  people: {
    adminUserIds: string[];
    approverUserIds: string[];
    approverUserGroupId: string | undefined;
    allowSelfApproval: boolean;
  };
  threadContextTokens: number;
  /** Run everything after the ack in a worker thread, so background work never delays acks. */
  workThread: boolean;
  /** How many work threads (when `workThread`): a heavy request blocks one, the others keep answering. */
  workThreads: number;
  tickets: {
    reaction: string;
    categories: string[];
    triageChannelId: string | undefined;
    webhookUrl: string | undefined;
    webhookSecret: string | undefined;
    teamLanguage: string;
  };
  retrieval: {
    mode: 'hybrid' | 'dense' | 'sparse';
    contextTokens: number;
    rerankerEnabled: boolean;
    maxUploadBytes: number;
  };
  agent: {
    maxSteps: number;
    maxToolCalls: number;
    maxRunUsd: number;
    maxRunSeconds: number;
    approvalTtlSeconds: number;
  };
}

export type ConfigurationResult = { ok: true; configuration: Configuration } | { ok: false; problems: string[] };

/** Validates an environment (default: `process.env`) and returns the configuration or every problem found. */
export function loadConfiguration(environment: Record<string, string | undefined> = process.env): ConfigurationResult {
  const parsed = configurationSchema.safeParse(environment);
  if (!parsed.success) {
    // The bot token's absence is a cross-field problem (OAuth mode needs none), reported with the others at once.
    const present = Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, emptyAsUnset(value)]));
    const tokenProblems = oauthProblems(present as Record<string, string | undefined>).filter((problem) =>
      problem.startsWith('SLACK_BOT_TOKEN'),
    );
    return { ok: false, problems: [...describeIssues(parsed.error.issues, environment), ...tokenProblems] };
  }
  const raw = parsed.data;
  const problems = crossFieldProblems(raw);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, configuration: toConfiguration(raw) };
}

/** One line per schema issue: the variable, missing or why invalid, and the hint for it. */
function describeIssues(issues: z.ZodError['issues'], environment: Record<string, string | undefined>): string[] {
  return issues.map((issue) => {
    const name = String(issue.path[0] ?? '(unknown)');
    const missing = issue.code === 'invalid_type' && environment[name] === undefined;
    const reason = missing ? 'is required but not set' : `is invalid: ${issue.message}`;
    return `${name} ${reason}${hints[name] ? ` — set it to ${hints[name]}` : ''}.`;
  });
}

/** Problems no single variable's schema can see. */
function crossFieldProblems(raw: RawConfiguration): string[] {
  const problems: string[] = [];
  if (raw.TICKET_WEBHOOK_URL && !raw.TICKET_WEBHOOK_SECRET) {
    problems.push('TICKET_WEBHOOK_SECRET is required when TICKET_WEBHOOK_URL is set — it signs every delivery.');
  }
  problems.push(...oauthProblems(raw), ...redisProblems(raw));
  return problems;
}

/** The valid variables under the names the code uses. */
function toConfiguration(raw: RawConfiguration): Configuration {
  return {
    nodeEnvironment: raw.NODE_ENV,
    logLevel: raw.LOG_LEVEL,
    slack: {
      botToken: raw.SLACK_BOT_TOKEN ?? '',
      oauth: oauthConfiguration(raw),
      signingSecret: raw.SLACK_SIGNING_SECRET,
      appToken: raw.SLACK_APP_TOKEN,
      apiUrl: raw.SLACK_API_URL.endsWith('/') ? raw.SLACK_API_URL : `${raw.SLACK_API_URL}/`,
      requestTimeoutMs: raw.SLACK_REQUEST_TIMEOUT_MS,
      maxFutureSkewSeconds: raw.SLACK_MAX_FUTURE_SKEW_SECONDS,
      socketMode: {
        clientPingTimeoutMs: raw.SOCKET_MODE_CLIENT_PING_TIMEOUT_MS,
        serverPingTimeoutMs: raw.SOCKET_MODE_SERVER_PING_TIMEOUT_MS,
      },
    },
    port: raw.PORT,
    adminApiToken: raw.ADMIN_API_TOKEN,
    openai: openaiConfiguration(raw),
    budgets: {
      timeZone: raw.TIME_ZONE,
      channelDailyUsd: raw.BUDGET_CHANNEL_DAILY_USD,
      channelMonthlyUsd: raw.BUDGET_CHANNEL_MONTHLY_USD,
      workspaceDailyUsd: raw.BUDGET_WORKSPACE_DAILY_USD,
      reservationTtlSeconds: raw.BUDGET_RESERVATION_TTL_SECONDS,
      userDailyUsd: raw.USER_DAILY_CAP_USD,
    },
    cache: { ttlSeconds: raw.CACHE_TTL_SECONDS, timeSensitiveTtlSeconds: raw.CACHE_TTL_TIME_SENSITIVE_SECONDS },
    redis: { ...redisTopology(raw), keyPrefix: raw.REDIS_KEY_PREFIX },
    qdrant: { url: raw.QDRANT_URL, apiKey: raw.QDRANT_API_KEY, collection: raw.QDRANT_COLLECTION },
    dataDir: raw.DATA_DIR,
    people: {
      adminUserIds: raw.ADMIN_USER_IDS,
      approverUserIds: raw.APPROVER_USER_IDS,
      approverUserGroupId: raw.APPROVER_USER_GROUP_ID,
      allowSelfApproval: raw.ALLOW_SELF_APPROVAL,
    },
    threadContextTokens: raw.THREAD_CONTEXT_TOKENS,
    workThread: raw.WORK_THREAD,
    workThreads: raw.WORK_THREADS,
    tickets: {
      reaction: raw.TICKET_REACTION.replace(/^:|:$/g, ''),
      categories: raw.TICKET_CATEGORIES,
      triageChannelId: raw.TICKET_TRIAGE_CHANNEL_ID,
      webhookUrl: raw.TICKET_WEBHOOK_URL,
      webhookSecret: raw.TICKET_WEBHOOK_SECRET,
      teamLanguage: raw.TEAM_LANGUAGE,
    },
    retrieval: {
      mode: raw.RETRIEVAL_MODE,
      contextTokens: raw.RETRIEVAL_CONTEXT_TOKENS,
      rerankerEnabled: raw.RERANKER_ENABLED,
      maxUploadBytes: raw.MAX_UPLOAD_BYTES,
    },
    agent: {
      maxSteps: raw.AGENT_MAX_STEPS,
      maxToolCalls: raw.AGENT_MAX_TOOL_CALLS,
      maxRunUsd: raw.AGENT_MAX_RUN_USD,
      maxRunSeconds: raw.AGENT_MAX_RUN_SECONDS,
      approvalTtlSeconds: raw.APPROVAL_TTL_SECONDS,
    },
  };
}

function openaiConfiguration(raw: RawConfiguration): Configuration['openai'] {
  return {
    apiKey: raw.OPENAI_API_KEY,
    baseURL: raw.OPENAI_BASE_URL,
    model: raw.OPENAI_MODEL,
    classifierModel: raw.OPENAI_CLASSIFIER_MODEL ?? raw.OPENAI_MODEL,
    embeddingModel: raw.OPENAI_EMBEDDING_MODEL,
    embeddingDimensions: raw.OPENAI_EMBEDDING_DIMENSIONS,
    timeoutMs: raw.OPENAI_TIMEOUT_MS,
    // A compatible server's models (llama3.1:8b, …) are unknown to tiktoken: count them approximately rather than
    // refuse them. Their provider-reported usage is what budgets are charged; our count only sizes reservations.
    fallbackEncoding:
      raw.TOKENIZER_FALLBACK_ENCODING ?? (isOpenAIHost(raw.OPENAI_BASE_URL) ? undefined : 'cl100k_base'),
    pricesJson: raw.MODEL_PRICES_JSON,
    unknownModels: unknownModelPolicy(raw.OPENAI_BASE_URL, raw.UNKNOWN_MODEL_PRICE),
    redact: raw.REDACT,
  };
}
