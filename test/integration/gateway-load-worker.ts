/**
 * Child process for the concurrency test: one gateway instance (own Redis connection, own process) firing `count`
 * concurrent chat calls at one channel (as one person, with `userId`). Prints one JSON line with the outcome of each
 * call (a refusal names its budget window).
 * Usage: node test/integration/gateway-load-worker.ts '{"baseURL":…,"keyPrefix":…,"dataDir":…,"channelId":…,"count":17,"caps":{…}}'
 */
import { isDeskhandError } from '../../src/errors.ts';
import { createHarness } from './gateway-harness.ts';

const input = JSON.parse(process.argv[2] ?? '{}') as {
  baseURL: string;
  keyPrefix: string;
  dataDir: string;
  workspaceId: string;
  channelId: string;
  userId?: string;
  count: number;
  caps: { channelDaily: number; channelMonthly: number; workspaceDaily: number; userDaily?: number };
};

const harness = await createHarness({
  baseURL: input.baseURL,
  keyPrefix: input.keyPrefix,
  dataDir: input.dataDir,
  caps: input.caps,
});
const outcomes = await Promise.all(
  Array.from({ length: input.count }, async (_, index) => {
    try {
      const result = await harness.gateway.chat(
        {
          purpose: 'load',
          promptVersion: '1',
          messages: [{ role: 'user', content: `Load test call ${process.pid}-${index}` }],
          maxOutputTokens: 1000,
          cache: { enabled: false },
        },
        {
          workspaceId: input.workspaceId,
          channelId: input.channelId,
          ...(input.userId ? { userId: input.userId } : {}),
          requestId: `load-${process.pid}-${index}`,
        },
      );
      return { ok: true, cost: result.costMicroUsd };
    } catch (error) {
      if (!isDeskhandError(error)) return { ok: false, code: String(error) };
      return { ok: false, code: error.code, ...(error.details.window ? { window: error.details.window } : {}) };
    }
  }),
);
await harness.gateway.flush();
await harness.ledger.close();
harness.redis.disconnect();
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
