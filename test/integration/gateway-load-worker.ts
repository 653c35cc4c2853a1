/**
 * Child process for the concurrency test: one gateway instance (own Redis connection, own process) firing `count`
 * concurrent chat calls at one channel. Prints one JSON line with the outcome of each call.
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
  count: number;
  caps: { channelDaily: number; channelMonthly: number; workspaceDaily: number };
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
        { workspaceId: input.workspaceId, channelId: input.channelId, requestId: `load-${process.pid}-${index}` },
      );
      return { ok: true, cost: result.costMicroUsd };
    } catch (error) {
      return { ok: false, code: isDeskhandError(error) ? error.code : String(error) };
    }
  }),
);
await harness.gateway.flush();
await harness.ledger.close();
harness.redis.disconnect();
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
