/**
 * The learning curve of rule-mode ticket extraction (issue 16): category and urgency accuracy with 0, 100, 1,000
 * and all labelled examples, each run through the production path (`extractTicket` in rule mode, examples recorded
 * as corrections of a scratch workspace in Redis and read back by `WorkspaceExampleIndexes`).
 *
 *   npm run eval:tickets:curve [-- --split heldout|dev --seeds 5 --sizes 0,100,1000,all]
 *
 * - `--split heldout` (default): examples are drawn from the BANKING77 dev part, scoring is on the held-out part
 *   (never used to choose anything); 100 and 1,000 are `--seeds` different samples.
 * - `--split dev`: five-fold cross-validation inside the dev part (examples from four folds, scoring on the fifth);
 *   the settings were chosen on these folds, so these figures are slightly optimistic.
 * Prints mean, min and max over samples or folds; scoring never includes a message that is among the examples.
 * The last line is one JSON object with every run.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { TicketExampleStore } from '../src/capabilities/tickets/learning/ticket-example-store.ts';
import { WorkspaceExampleIndexes } from '../src/capabilities/tickets/learning/workspace-example-indexes.ts';
import { defaultTicketCategories } from '../src/capabilities/tickets/ticket-schema.ts';
import { foldCount, type LabelledMessage, splitBanking77 } from './banking77-dev.ts';
import { loadCorrections, scoreTickets, unavailableGateway } from './ticket-eval-scoring.ts';
import { seededShuffle } from './tune-ticket-examples.ts';

interface Run {
  size: string;
  sample: number;
  examples: number;
  scored: number;
  category: number;
  urgency: number;
}

async function runOnce(
  store: TicketExampleStore,
  examples: readonly LabelledMessage[],
  scored: readonly LabelledMessage[],
): Promise<{ category: number; urgency: number }> {
  const workspaceId = `TCURVE${randomBytes(5).toString('hex').toUpperCase()}`;
  try {
    await loadCorrections(store, workspaceId, examples);
    const scores = await scoreTickets(scored, {
      gateway: unavailableGateway,
      configuration: { categories: [...defaultTicketCategories], teamLanguage: 'en' },
      examples: new WorkspaceExampleIndexes(store),
      workspaceId,
      verbose: false,
    });
    return { category: scores.fieldAccuracy.category, urgency: scores.fieldAccuracy.urgency };
  } finally {
    await store.clear(workspaceId);
  }
}

function summary(values: readonly number[]): string {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return values.length === 1
    ? `${mean.toFixed(1)} %`
    : `${mean.toFixed(1)} % [${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}]`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      split: { type: 'string', default: 'heldout' },
      seeds: { type: 'string', default: '5' },
      sizes: { type: 'string', default: '0,100,1000,all' },
    },
  });
  if (values.split !== 'heldout' && values.split !== 'dev') throw new Error('--split must be heldout or dev');
  const sizes = values.sizes.split(',');
  const seeds = Math.max(1, Number(values.seeds));
  const { heldOut, dev, foldOf } = splitBanking77();
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const store = new TicketExampleStore(redis, { keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'dh:' });
  const runs: Run[] = [];
  try {
    for (const size of sizes) {
      const plans: { sample: number; pool: LabelledMessage[]; scored: LabelledMessage[] }[] =
        values.split === 'heldout'
          ? Array.from({ length: size === 'all' || size === '0' ? 1 : seeds }, (_, index) => ({
              sample: index + 1,
              pool: dev,
              scored: heldOut,
            }))
          : Array.from({ length: foldCount }, (_, index) => ({
              sample: index + 1,
              pool: dev.filter((message) => foldOf.get(message.id) !== index + 1),
              scored: dev.filter((message) => foldOf.get(message.id) === index + 1),
            }));
      for (const { sample, pool, scored } of plans) {
        const examples =
          size === 'all' ? pool : seededShuffle(pool, 7919 * sample + Number(size)).slice(0, Number(size));
        const { category, urgency } = await runOnce(store, examples, scored);
        runs.push({ size, sample, examples: examples.length, scored: scored.length, category, urgency });
        console.error(`  ${size} examples, sample ${sample}: category ${category} %, urgency ${urgency} %`);
      }
    }
  } finally {
    redis.disconnect();
  }
  console.log(
    `\nLearning curve, rule mode, ${values.split === 'heldout' ? `scored on the held-out part (${heldOut.length})` : 'five-fold cross-validation on dev'}`,
  );
  console.log('examples   category                 urgency');
  for (const size of sizes) {
    const of = runs.filter((run) => run.size === size);
    console.log(
      `${size.padEnd(10)} ${summary(of.map((run) => run.category)).padEnd(24)} ${summary(of.map((run) => run.urgency))}`,
    );
  }
  console.log(JSON.stringify({ split: values.split, runs }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
