/**
 * Where the official specs and real payloads the tests, fakes, evals and benches use live: `test/fixtures/`,
 * inside the repository (each folder's PROVENANCE.md names its source, commit and licence). Large specs are
 * stored gzip-compressed (`.json.gz`); `readFixtureText` reads either form.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const repositoryRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const fixturesDirectory = resolve(repositoryRoot, 'test', 'fixtures');

/** The text of a file, gunzipped first when its name ends in `.gz`. */
export function readFixtureText(path: string): string {
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** The small SciFact sample (BEIR format) evals and benches default to; see its PROVENANCE.md. */
export const scifactSample = {
  corpus: resolve(fixturesDirectory, 'retrieval', 'scifact-sample', 'corpus.jsonl'),
  queries: resolve(fixturesDirectory, 'retrieval', 'scifact-sample', 'queries.dev.jsonl'),
  qrels: resolve(fixturesDirectory, 'retrieval', 'scifact-sample', 'qrels.dev.tsv'),
};

/** The OpenAPI 3.2.0 specification as one long Markdown manual (296 KB). */
export const openApiManualPath = resolve(
  fixturesDirectory,
  'documents',
  'long-manual-markdown',
  'openapi-spec-3.2.0.md',
);
