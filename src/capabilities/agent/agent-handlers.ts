/**
 * The agent as router and listener handlers:
 * - `createTaskHandler` is the `task` route (`/agent <goal>` and mentions the router classifies as tasks);
 * - `createApprovalActionHandler` handles `approval_approve` / `approval_reject` clicks;
 * - `createStopActionHandler` handles `agent_stop` clicks.
 *
 * Each returns a reply for the requester or clicker (ephemeral). All of them touch Redis only, so they fit
 * before the ack. The approval handler MUST run before the click is acked (docs/platform-facts.md, Approvals): the decision
 * is then durable before Slack considers the click delivered.
 */
import { DeskhandError } from '../../errors.ts';
import type { CapabilityOutcome, CapabilityRequest, Reply } from '../../ports/capability.ts';
import type { AgentService } from './agent-service.ts';

/** What the action handlers read from a click (a subset of the listeners' `ActionRequest`). */
export interface AgentClick {
  actionId: string;
  /** Untrusted: checked against Redis. */
  value: string | undefined;
  workspaceId: string;
  userId: string;
}

const auditCommand = /^audit\s+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s*$/i;

/**
 * The `task` route. `/agent audit <run id>` shows a run's audit log to its requester or an approver. A run posts
 * its progress later, from the run queue (possibly on another replica), so it keeps the `Reply`'s channel and
 * thread in its stored state rather than the `Reply` itself.
 */
export function createTaskHandler(service: AgentService) {
  return async (request: CapabilityRequest, reply: Reply): Promise<CapabilityOutcome> => {
    const audit = auditCommand.exec(request.text.trim());
    if (audit?.[1]) {
      const shown = await service.viewAudit({
        workspaceId: request.workspaceId,
        userId: request.userId,
        runId: audit[1].toLowerCase(),
      });
      return { kind: 'reply', text: shown.message, visibility: 'ephemeral' };
    }
    const started = await service.startRun({
      workspaceId: request.workspaceId,
      channelId: reply.channel,
      ...(reply.threadTs ? { threadTs: reply.threadTs } : {}),
      userId: request.userId,
      goal: request.text,
      // From the assistant view: the run's search reads the viewed channel's documents (or none), not the DM's.
      ...(request.documentScope ? { documentScope: request.documentScope } : {}),
    });
    if (started.kind === 'invalid') {
      throw new DeskhandError('invalid_input', 'agent goal refused', { userMessage: started.message });
    }
    return { kind: 'reply', text: started.message, visibility: 'ephemeral' };
  };
}

/** What `/agent` (and its buttons) answer when no language model is configured. */
export const agentNeedsModelMessage =
  'The agent needs a language model, and none is configured. An admin can set `OPENAI_API_KEY`, or, for a local OpenAI-compatible server (Ollama, vLLM, llama.cpp), `OPENAI_BASE_URL` plus any placeholder `OPENAI_API_KEY`, then restart Deskhand. Until then `/ask`, `/ticket`, `/budget` and `/docs` work without one.';

/**
 * The `task` route, the approval buttons and the stop button when no model is configured: the agent is not
 * built, and every request gets `agentNeedsModelMessage` (an expected outcome, not an error).
 */
export function createModelRequiredAgentHandler() {
  // Ephemeral, so a mention's thread does not become an agent conversation that can only repeat this.
  return async (): Promise<CapabilityOutcome> => ({
    kind: 'reply',
    text: agentNeedsModelMessage,
    visibility: 'ephemeral',
  });
}

export function createApprovalActionHandler(service: AgentService) {
  return async (click: AgentClick): Promise<CapabilityOutcome> => {
    const result = await service.handleApprovalAction({
      workspaceId: click.workspaceId,
      userId: click.userId,
      actionId: click.actionId,
      value: click.value ?? '',
    });
    return { kind: 'reply', text: result.message, visibility: 'ephemeral' };
  };
}

export function createStopActionHandler(service: AgentService) {
  return async (click: AgentClick): Promise<CapabilityOutcome> => {
    const result = await service.handleStopAction({
      workspaceId: click.workspaceId,
      userId: click.userId,
      value: click.value ?? '',
    });
    return { kind: 'reply', text: result.message, visibility: 'ephemeral' };
  };
}
