/**
 * `npm run eval:answers -- --feedback` on the in-repo SciFact sample: the sample's 280 abstracts are ingested
 * (sparse) into an embedded index under a scratch DATA_DIR, and the fixture feedback file
 * (test/fixtures/feedback/scifact-feedback.jsonl, see its PROVENANCE.md) is replayed through the real command:
 * each verdict (kept, moved, lost, no citations), the totals split by helpful and not helpful, exit code 0; then
 * one helpful answer's abstract is removed, as a re-ingestion would, and the command reports it lost and exits 1
 * (0 with --allow-lost).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { documentIdFor } from '../../src/capabilities/documents/ingestion/document-id.ts';
import { ingestText, removeDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { createSilentLogger } from '../../src/observability/logger.ts';
import { fixturesDirectory, scifactSample } from '../support/fixtures.ts';

const run = promisify(execFile);
const workspaceId = 'T0SCIFACT';
const feedbackFile = join(fixturesDirectory, 'feedback', 'scifact-feedback.jsonl');
const logger = createSilentLogger();
let dataDir: string;

async function withIndex(work: (index: EmbeddedVectorIndex) => Promise<void>): Promise<void> {
  const index = new EmbeddedVectorIndex({ directory: join(dataDir, 'index'), logger });
  await index.ensureReady();
  try {
    await work(index);
  } finally {
    await index.close();
  }
}

async function replay(...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, DATA_DIR: dataDir, QDRANT_URL: '', REDIS_KEY_PREFIX: `test:${randomUUID()}:` };
  try {
    const { stdout, stderr } = await run(
      'npm',
      ['run', '-s', 'eval:answers', '--', '--feedback', feedbackFile, ...extra],
      {
        env,
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'deskhand-feedback-replay-'));
  await withIndex(async (index) => {
    for (const line of readFileSync(scifactSample.corpus, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const row = JSON.parse(line) as { _id: string; title?: string; text?: string };
      await ingestText(
        {
          workspaceId,
          scope: 'channel:C0SCIFACT',
          source: `beir:${row._id}`,
          title: String(row.title ?? ''),
          text: String(row.text ?? ''),
        },
        { index, callScope: { workspaceId, channelId: 'C0INGEST' } },
      );
    }
  });
});

after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

test('the fixture cites the ids the sample gets when ingested', () => {
  const rows = readFileSync(feedbackFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { cited: { documentId: string }[] });
  assert.equal(rows[0]?.cited[0]?.documentId, documentIdFor(workspaceId, 'beir:44265107'));
  assert.equal(rows[4]?.cited[0]?.documentId, documentIdFor(workspaceId, 'beir:143381103'));
});

test('replays the fixture: kept, moved, lost and no citations, split by vote; exit 1 once a helpful answer is lost', async () => {
  const today = await replay();
  assert.equal(today.code, 0, today.stderr);
  const lines = today.stdout.split('\n');
  const verdictOf = (claim: string) => lines.find((line) => line.includes(claim))?.split(/\s+/)[0];
  assert.equal(verdictOf('32% of liver transplantation programs'), 'KEPT');
  assert.equal(verdictOf('A diminished ovarian reserve'), 'KEPT');
  assert.equal(verdictOf('Alteration of origin firing'), 'KEPT');
  assert.equal(verdictOf('Autophagy deficiency in the liver'), 'MOVED');
  assert.equal(verdictOf('Antimicrobial agents are more effective'), 'LOST');
  assert.equal(verdictOf('Cellular clocks are not predictive'), 'NO_CITATIONS');
  assert.match(today.stdout, /^helpful: 2 kept, 1 moved, 0 lost, 0 without citations$/m);
  assert.match(today.stdout, /^not helpful: 1 kept, 0 moved, 1 lost, 1 without citations$/m);
  const totals = JSON.parse(lines.filter((line) => line.startsWith('{')).at(-1) ?? '{}');
  assert.deepEqual(totals.feedbackReplay.helpful, { kept: 2, moved: 1, lost: 0, no_citations: 0 });

  await withIndex(async (index) => {
    const removed = await removeDocument({ workspaceId, source: 'beir:44265107' }, { index, logger });
    assert.equal(removed.kind, 'removed');
  });
  const afterRemoval = await replay();
  assert.equal(afterRemoval.code, 1);
  assert.equal(
    afterRemoval.stdout
      .split('\n')
      .find((line) => line.includes('32% of liver transplantation'))
      ?.split(/\s+/)[0],
    'LOST',
  );
  assert.match(afterRemoval.stdout, /^helpful: 1 kept, 1 moved, 1 lost, 0 without citations$/m);
  assert.match(afterRemoval.stderr, /1 helpful answer\(s\) lost their cited chunks/);
  assert.equal((await replay('--allow-lost')).code, 0);
  assert.equal((await replay('--workspace', 'T0OTHER')).stdout.match(/^helpful: 0 kept/m)?.length, 1, 'filtered');
});
