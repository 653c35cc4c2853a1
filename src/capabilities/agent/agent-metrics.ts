/** Prometheus metrics of the agent: run outcomes, tool calls and approval decisions. */
import { counter, type Registry } from '../../observability/metrics.ts';

export interface AgentMetrics {
  runEnded(outcome: string): void;
  toolCall(tool: string, result: 'ok' | 'error'): void;
  approval(result: string): void;
}

export function createAgentMetrics(registry: Registry | undefined): AgentMetrics {
  if (!registry) return { runEnded: () => {}, toolCall: () => {}, approval: () => {} };
  const runs = counter(registry, 'deskhand_agent_runs_total', 'Agent runs ended, by outcome', ['outcome']);
  const tools = counter(registry, 'deskhand_agent_tool_calls_total', 'Agent tool calls executed', ['tool', 'result']);
  const approvals = counter(registry, 'deskhand_agent_approvals_total', 'Approval clicks and expiries, by result', [
    'result',
  ]);
  return {
    runEnded: (outcome) => runs.inc({ outcome }),
    toolCall: (tool, result) => tools.inc({ tool, result }),
    approval: (result) => approvals.inc({ result }),
  };
}
