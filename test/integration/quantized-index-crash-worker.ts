/**
 * Child process for quantized-index-crash.test.ts: ingests documents into a persistent `EmbeddedVectorIndex` (the
 * default quantized dense side) as fast as it can, compacting often, and prints `acked N` once document N's
 * replace has resolved — until the test kills it with SIGKILL.
 */
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { crashDocument } from './quantized-index-crash-data.ts';

const directory = process.argv[2];
if (!directory) throw new Error('usage: quantized-index-crash-worker.ts DIRECTORY');
const index = new EmbeddedVectorIndex({ directory, compactAfterLogBytes: 64 << 10 });
await index.ensureReady();
for (let number = 0; ; number += 1) {
  await index.replaceDocument('W1', `doc-${number}`, crashDocument(number));
  process.stdout.write(`acked ${number}\n`);
}
