/**
 * Chooses how learning from corrections votes (issue 16) by five-fold cross-validation on the BANKING77 dev part
 * only (`scripts/banking77-dev.ts`); the held-out part is never read here.
 *
 *   npm run eval:tickets:tune [-- --representations words,words+chars --sizes 100,1000,all --seeds 2 --bm25 all|k1,b]
 *
 * For each fold, representation, BM25 setting and example count (a seeded sample of the other four folds), every
 * message of the fold gets its 50 nearest examples once; then every (k, power, agreement) is scored: category
 * accuracy when the vote decides where it agrees enough and the rules decide elsewhere — exactly what rule mode
 * does. Prints the best settings by mean accuracy over the example counts, with the spread over folds, and the
 * last line is one JSON object with every row.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type ExampleRepresentation,
  exampleRepresentations,
} from '../src/capabilities/tickets/learning/example-features.ts';
import { voteOnExamples } from '../src/capabilities/tickets/learning/example-vote.ts';
import {
  type IndexedExample,
  NearestExampleIndex,
  type Neighbour,
} from '../src/capabilities/tickets/learning/nearest-example-index.ts';
import { extractByRules } from '../src/capabilities/tickets/rule-based-extractor.ts';
import { defaultTicketCategories } from '../src/capabilities/tickets/ticket-schema.ts';
import { foldCount, type LabelledMessage, splitBanking77 } from './banking77-dev.ts';

const ks = [1, 3, 5, 7, 10, 15, 20, 30];
const powers = [0, 1, 2, 4];
const agreements = [0, 0.4, 0.5, 0.6, 0.7, 0.8];
const similarityFloors = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
const bm25Settings = [
  { k1: 0.9, b: 0.4 },
  { k1: 1.2, b: 0.75 },
];

/** A deterministic shuffle (mulberry32), so a sample is the same on every run. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
  const shuffled = [...items];
  for (let index = shuffled.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other] as T, shuffled[index] as T];
  }
  return shuffled;
}

function asExample(message: LabelledMessage): IndexedExample {
  return {
    id: message.id,
    text: message.text,
    category: message.expected.category,
    urgency: message.expected.urgency,
  };
}

interface Row {
  representation: ExampleRepresentation;
  k1: number;
  b: number;
  k: number;
  power: number;
  agreement: number;
  minSimilarity: number;
  /** size → accuracy per fold (and seed). */
  accuracy: Record<string, number[]>;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      representations: { type: 'string', default: exampleRepresentations.join(',') },
      sizes: { type: 'string', default: '100,1000,all' },
      seeds: { type: 'string', default: '1' },
      bm25: { type: 'string', default: 'all' },
    },
  });
  const representations = values.representations.split(',') as ExampleRepresentation[];
  const sizes = values.sizes.split(',');
  const seeds = Number(values.seeds);
  const [k1Option, bOption] = values.bm25.split(',').map(Number);
  const settings = values.bm25 === 'all' ? bm25Settings : [{ k1: k1Option ?? 1.2, b: bOption ?? 0.75 }];
  const { dev, foldOf } = splitBanking77();
  const ruleCategory = new Map<string, string>();
  for (const message of dev) {
    const ticket = extractByRules({
      text: message.text,
      messageTs: message.messageTs,
      timeZone: message.timeZone,
      categories: defaultTicketCategories,
      teamLanguage: 'en',
    });
    ruleCategory.set(message.id, ticket.category);
  }
  const rulesAccuracy = mean(
    dev.map((message) => (ruleCategory.get(message.id) === message.expected.category ? 1 : 0)),
  );
  console.log(`dev ${dev.length} messages, rules alone: category ${(rulesAccuracy * 100).toFixed(1)} %`);

  const rows = new Map<string, Row>();
  for (const representation of representations) {
    for (const { k1, b } of settings) {
      for (let fold = 1; fold <= foldCount; fold += 1) {
        const test = dev.filter((message) => foldOf.get(message.id) === fold);
        const pool = dev.filter((message) => foldOf.get(message.id) !== fold);
        for (const size of sizes) {
          for (let seed = 1; seed <= (size === 'all' ? 1 : seeds); seed += 1) {
            const chosen = size === 'all' ? pool : seededShuffle(pool, fold * 1000 + seed).slice(0, Number(size));
            const index = new NearestExampleIndex({ representation, k1, b });
            for (const message of chosen) index.add(asExample(message));
            const neighbours: Neighbour[][] = test.map((message) => index.nearest(message.text, 50));
            for (const k of ks) {
              for (const power of powers) {
                for (const [agreement, minSimilarity] of agreements.flatMap((agreement) =>
                  similarityFloors.map((floor) => [agreement, floor] as const),
                )) {
                  let correct = 0;
                  test.forEach((message, position) => {
                    const vote = voteOnExamples(neighbours[position] ?? [], { k, power, agreement, minSimilarity });
                    const category = vote.category?.value ?? ruleCategory.get(message.id);
                    if (category === message.expected.category) correct += 1;
                  });
                  const key = `${representation}|${k1}|${b}|${k}|${power}|${agreement}|${minSimilarity}`;
                  let row = rows.get(key);
                  if (!row) {
                    row = { representation, k1, b, k, power, agreement, minSimilarity, accuracy: {} };
                    rows.set(key, row);
                  }
                  row.accuracy[size] = [...(row.accuracy[size] ?? []), correct / test.length];
                }
              }
            }
          }
        }
        console.error(`  ${representation} k1=${k1} b=${b} fold ${fold} done`);
      }
    }
  }
  const ranked = [...rows.values()]
    .map((row) => ({ row, score: mean(sizes.map((size) => mean(row.accuracy[size] ?? []))) }))
    .sort((left, right) => right.score - left.score);
  const describe = (row: Row) =>
    sizes
      .map((size) => {
        const folds = row.accuracy[size] ?? [];
        return `${size}: ${(mean(folds) * 100).toFixed(1)} [${(Math.min(...folds) * 100).toFixed(1)}–${(Math.max(...folds) * 100).toFixed(1)}]`;
      })
      .join('  ');
  console.log('\nbest settings (mean over example counts; per count: mean [min–max over folds])');
  for (const { row, score } of ranked.slice(0, 15)) {
    console.log(
      `${(score * 100).toFixed(2)}  ${row.representation} k1=${row.k1} b=${row.b} k=${row.k} power=${row.power} agreement=${row.agreement} minSimilarity=${row.minSimilarity}  ${describe(row)}`,
    );
  }
  console.log('\nbest per representation');
  for (const representation of representations) {
    const best = ranked.find(({ row }) => row.representation === representation);
    if (best)
      console.log(
        `${(best.score * 100).toFixed(2)}  ${representation} k1=${best.row.k1} b=${best.row.b} k=${best.row.k} power=${best.row.power} agreement=${best.row.agreement} minSimilarity=${best.row.minSimilarity}  ${describe(best.row)}`,
      );
  }
  console.log(JSON.stringify({ rulesAccuracy, rows: ranked.map(({ row, score }) => ({ ...row, score })) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
