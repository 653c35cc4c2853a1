/**
 * A Deskhand agent worker in its own process, for crash tests: the test starts it, lets it take a run to a
 * known point and kills it with SIGKILL (no cleanup, no graceful close — like a crashed replica).
 * Environment: AGENT_CRASH_BASE_URL (fake model), AGENT_CRASH_KEY_PREFIX, AGENT_CRASH_DATA_DIR,
 * AGENT_CRASH_MODE = 'normal' | 'hang-file-ticket' (file_ticket never returns, as if the process died mid-call).
 */
import { createAgentHarness } from './agent-harness.ts';

const baseURL = process.env.AGENT_CRASH_BASE_URL ?? '';
const keyPrefix = process.env.AGENT_CRASH_KEY_PREFIX ?? '';
const dataDir = process.env.AGENT_CRASH_DATA_DIR ?? '';
if (!baseURL || !keyPrefix || !dataDir) throw new Error('AGENT_CRASH_BASE_URL, _KEY_PREFIX and _DATA_DIR are required');
const hang = process.env.AGENT_CRASH_MODE === 'hang-file-ticket';

await createAgentHarness({
  shared: { baseURL, keyPrefix, dataDir },
  lockDurationMs: 1000,
  stalledIntervalMs: 500,
  ...(hang ? { fileTicket: () => new Promise<never>(() => {}) } : {}),
});
process.stdout.write('ready\n');
