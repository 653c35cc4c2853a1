/**
 * The agent's tools. Each tool is one module under `tools/` exporting a factory that returns an `AgentTool`:
 * name, description, zod input schema, risk, cost, timeout, idempotency and `run`. The registry is the only
 * way the loop reaches a tool, so a name the model invents, or arguments that fail the schema, are refused by
 * code before anything runs.
 *
 * Adding a tool is one module:
 * 1. Create `tools/<name>.ts` exporting `create<Name>Tool(dependencies): AgentTool<Args>`; take whatever the
 *    tool needs (a capability, a port) as injected functions, never an SDK.
 * 2. Pick `risk: 'write'` for anything with a side effect outside Deskhand: the loop then never runs it without
 *    an approved request. Set `idempotent: true` only when running it twice has the effect of running it once
 *    (a crash mid-call then re-runs it instead of escalating).
 * 3. Describe the exact effect in `describe()` (the approval card shows it verbatim) and name the `target`
 *    (channel, ticket system…) the approval is bound to.
 * 4. Add it to the list given to `createToolRegistry` in the composition root.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DocumentScopeOverride } from '../../ports/capability.ts';
import type { ToolDefinition } from '../../ports/language-model.ts';
import type { AccessScope } from '../../ports/vector-index.ts';
import { truncate } from '../../slack-kit/mrkdwn.ts';

export type ToolRisk = 'read' | 'write';

/** What a tool knows about the run it works for. Scoping comes from here, never from the model's arguments. */
export interface ToolContext {
  runId: string;
  workspaceId: string;
  channelId: string;
  threadTs: string | undefined;
  /** Who started the run. */
  requesterId: string;
  /**
   * Whose documents the run may read when its channel does not decide it (a run started in Slack's assistant view:
   * the channel the user was viewing, or `none`). Absent: the run's channel decides.
   */
  documentScope?: DocumentScopeOverride;
  /** For write tools: who approved this call. */
  approvedBy?: string;
  /** Aborted at the tool's timeout or when the run's wall-clock bound is reached. */
  signal: AbortSignal;
  /** Absolute time (ms since epoch) by which the tool must finish. */
  deadline: number;
  /** A key unique to this call across retries (the approval request id for writes): pass it to sinks that dedupe. */
  idempotencyKey: string;
}

export interface ToolOutput {
  /** What goes back to the model. Treated as untrusted data: it is delimited and never obeyed. */
  content: string;
  /** What the call actually cost (e.g. model tokens), when known; otherwise the declared cost is charged. */
  costMicroUsd?: number;
}

export interface ToolEffect {
  /** One sentence stating exactly what will happen, shown on the approval card. */
  summary: string;
  /** Where the effect lands (a channel id, a ticket queue…); part of the approval hash. */
  target: string;
}

export interface AgentTool<Args = unknown> {
  /** `snake_case`, what the model calls. */
  name: string;
  /** Shown to the model. */
  description: string;
  inputSchema: z.ZodType<Args>;
  risk: ToolRisk;
  /** Declared cost of one call in integer micro-dollars, checked against the run's cap before the call. */
  costMicroUsd: number;
  timeoutMs: number;
  /** Running it twice has the effect of running it once. */
  idempotent: boolean;
  /** The effect of a call, for approval cards and the approval hash. */
  describe(args: Args, context: Pick<ToolContext, 'workspaceId' | 'channelId' | 'threadTs'>): ToolEffect;
  run(args: Args, context: ToolContext): Promise<ToolOutput>;
}

export type ToolValidation =
  | { ok: true; tool: AgentTool; args: unknown; canonicalArguments: string }
  | { ok: false; reason: 'unknown_tool' | 'invalid_arguments'; message: string };

export interface ToolRegistry {
  /** Tool definitions for the model (JSON Schema generated from each zod schema). */
  definitions(): ToolDefinition[];
  get(name: string): AgentTool | undefined;
  names(): string[];
  /**
   * Parses and validates a call as the model produced it. Never throws: an unknown name or bad arguments come
   * back as a refusal whose message is fed to the model as an error observation.
   */
  validate(name: string, argumentsJson: string): ToolValidation;
}

const toolNamePattern = /^[a-z][a-z0-9_]{0,63}$/;

/** Builds the registry; throws at start-up on duplicate or malformed tool names (a programming error). */
export function createToolRegistry(tools: readonly AgentTool<unknown>[]): ToolRegistry {
  const byName = new Map<string, AgentTool>();
  for (const tool of tools) {
    if (!toolNamePattern.test(tool.name)) throw new Error(`Tool name "${tool.name}" must be snake_case`);
    if (byName.has(tool.name)) throw new Error(`Tool "${tool.name}" is registered twice`);
    if (!Number.isInteger(tool.costMicroUsd) || tool.costMicroUsd < 0) {
      throw new Error(`Tool "${tool.name}" needs an integer, non-negative costMicroUsd`);
    }
    byName.set(tool.name, tool);
  }
  const definitions = [...byName.values()].map((tool) => {
    const { $schema: _ignored, ...parameters } = z.toJSONSchema(tool.inputSchema, { io: 'input' }) as Record<
      string,
      unknown
    >;
    return { name: tool.name, description: tool.description, parameters };
  });
  return {
    definitions: () => definitions.map((definition) => ({ ...definition })),
    get: (name) => byName.get(name),
    names: () => [...byName.keys()],
    validate(name, argumentsJson) {
      const tool = byName.get(name);
      if (!tool) {
        return {
          ok: false,
          reason: 'unknown_tool',
          message: `There is no tool named "${truncate(name, 80)}". Available tools: ${[...byName.keys()].join(', ')}.`,
        };
      }
      let raw: unknown;
      try {
        raw = argumentsJson.trim() === '' ? {} : JSON.parse(argumentsJson);
      } catch {
        return { ok: false, reason: 'invalid_arguments', message: `Arguments for ${name} are not valid JSON.` };
      }
      const parsed = tool.inputSchema.safeParse(raw);
      if (!parsed.success) {
        const problems = parsed.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
          .join('; ');
        return { ok: false, reason: 'invalid_arguments', message: `Invalid arguments for ${name}: ${problems}.` };
      }
      return { ok: true, tool, args: parsed.data, canonicalArguments: canonicalJson(parsed.data) };
    },
  };
}

/**
 * JSON with object keys sorted at every level, so equal arguments always serialise (and hash) the same.
 * Hand-written because it is ten lines over values that came out of JSON.parse + zod (no cycles, no
 * exotic types); a dependency would add nothing.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** Identity of a call for loop detection: tool name plus normalised arguments. */
export function callFingerprint(name: string, argumentsJson: string): string {
  let normalised: string;
  try {
    normalised = canonicalJson(JSON.parse(argumentsJson));
  } catch {
    normalised = argumentsJson.replace(/\s+/g, ' ').trim();
  }
  return createHash('sha256').update(`${name}\u0000${normalised}`).digest('hex');
}

/**
 * The access scope a tool must use: always the run's workspace, and the run's channel — or, for a run started in
 * the assistant view, the viewed channel the work side verified — whatever the model asked for. A run whose scope
 * is `none` must read no documents at all (the search tool checks that before it gets here).
 */
export function accessScopeOf(context: Pick<ToolContext, 'workspaceId' | 'channelId' | 'documentScope'>): AccessScope {
  const scope = context.documentScope;
  return {
    workspaceId: context.workspaceId,
    channelId: scope?.kind === 'channel' ? scope.channelId : context.channelId,
  };
}
