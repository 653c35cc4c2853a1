import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { EmbeddedVectorIndex } from '../../src/adapters/embedded-vector-index.ts';
import { documentIdFor } from '../../src/capabilities/documents/ingestion/document-id.ts';
import { FakeOpenAIServer } from '../fakes/openai-server.ts';
import { FakeQdrantServer } from '../fakes/qdrant-server.ts';
import { localFixtures } from './ingestion-test-support.ts';

const run = promisify(execFile);
const repository = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(repository, 'scripts', 'ingest.ts');

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('npm run ingest (scripts/ingest.ts)', () => {
  const prefix = `test:${randomUUID()}:`;
  let directory: string;
  let documents: string;
  let fake: FakeOpenAIServer;
  let redis: Redis;

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'deskhand-ingest-cli-'));
    documents = join(directory, 'docs');
    mkdirSync(join(documents, 'nested'), { recursive: true });
    mkdirSync(join(documents, '.hidden'));
    writeFileSync(
      join(documents, 'returns.md'),
      '# Returns\n\nUnopened items can be returned within 30 days.\n\n## Damaged parcels\n\nAsk for a photo of the label.\n',
    );
    copyFileSync(join(localFixtures, 'sample.docx'), join(documents, 'nested', 'onboarding.docx'));
    copyFileSync(join(localFixtures, 'zip-bomb.docx'), join(documents, 'nested', 'bomb.docx'));
    writeFileSync(join(documents, '.hidden', 'secret.md'), '# Not for the index\n');
    fake = await FakeOpenAIServer.start({ whenEmpty: 'error' });
    redis = new Redis('redis://127.0.0.1:6379');
  });

  after(async () => {
    await fake.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    rmSync(directory, { recursive: true, force: true });
  });

  async function ingest(args: string[], environment: Record<string, string>): Promise<CommandResult> {
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATA_DIR: join(directory, 'data'),
      REDIS_KEY_PREFIX: prefix,
      QDRANT_URL: '',
      OPENAI_API_KEY: '',
      LOG_LEVEL: 'error',
      ...environment,
    };
    try {
      const { stdout, stderr } = await run(process.execPath, [script, ...args], {
        cwd: directory,
        env,
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  test('walks directories, embeds through the gateway, prints every outcome and exits 1 on a rejected file', async () => {
    const openai = { OPENAI_API_KEY: 'sk-test-ingest', OPENAI_BASE_URL: fake.baseURL };
    const first = await ingest(['docs', '--workspace', 'T0CLI', '--scope', 'channel:C0CLI'], openai);
    assert.equal(first.code, 1, first.stdout + first.stderr);
    const lines = first.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      'rejected  docs/nested/bomb.docx: [zip_bomb] "bomb.docx" expands to far more data than a document should ("word/media/padding.bin" is compressed 1029:1), so I did not open it.',
      'indexed   docs/nested/onboarding.docx (3 chunks, 3 embedded, 0 from cache)',
      'indexed   docs/returns.md (2 chunks, 2 embedded, 0 from cache)',
      '3 files: 1 rejected, 2 indexed',
    ]);
    assert.match(first.stderr, /Embedding with text-embedding-3-small \(1536 dimensions\) through the gateway/);
    assert.deepEqual(fake.violations, [], 'the embedding requests match the OpenAI spec');
    assert.ok(fake.embeddingCalls().length >= 1);

    const callsBefore = fake.embeddingCalls().length;
    const again = await ingest(
      ['docs/returns.md', 'docs/nested/onboarding.docx', '--workspace', 'T0CLI', '--scope', 'channel:C0CLI'],
      openai,
    );
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(again.stdout.trim().split('\n'), [
      'unchanged docs/returns.md (2 chunks)',
      'unchanged docs/nested/onboarding.docx (3 chunks)',
      '2 files: 2 unchanged',
    ]);
    assert.equal(fake.embeddingCalls().length, callsBefore, 're-ingesting unchanged files costs nothing');

    const index = new EmbeddedVectorIndex({ directory: join(directory, 'data', 'index') });
    await index.ensureReady();
    const summary = await index.getDocument('T0CLI', documentIdFor('T0CLI', join(documents, 'returns.md')));
    assert.equal(summary?.scope, 'channel:C0CLI');
    assert.equal(summary?.chunkCount, 2);
    const hits = await index.search({
      access: { workspaceId: 'T0CLI', channelId: 'C0CLI' },
      text: 'photo of the label',
      mode: 'sparse',
      limit: 3,
    });
    assert.deepEqual(hits[0]?.chunk.sectionPath, ['Returns', 'Damaged parcels']);
    assert.equal(hits[0]?.chunk.dense?.length, 1536);
    await index.close();
  });

  test('without OPENAI_API_KEY it says so and indexes sparse-only; --remove removes', async () => {
    const sparse = await ingest(['docs/returns.md', '--workspace', 'T0SPARSE'], {});
    assert.equal(sparse.code, 0, sparse.stdout + sparse.stderr);
    assert.match(sparse.stderr, /OPENAI_API_KEY is not set: indexing sparse-only/);
    assert.match(sparse.stdout, /^indexed {3}docs\/returns\.md \(2 chunks, sparse-only\)$/m);
    const removed = await ingest(['docs/returns.md', '--workspace', 'T0SPARSE', '--remove'], {});
    assert.equal(removed.code, 0, removed.stdout + removed.stderr);
    assert.match(removed.stdout, /^removed {3}docs\/returns\.md$/m);
  });

  test('with QDRANT_URL it indexes into Qdrant, every request valid against the 1.19 spec, versions in Redis', async () => {
    const qdrant = new FakeQdrantServer();
    const url = await qdrant.start();
    try {
      const environment = { QDRANT_URL: url, QDRANT_COLLECTION: 'cli_test' };
      const first = await ingest(['docs/returns.md', '--workspace', 'T0QDRANT'], environment);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.match(first.stderr, /Indexing into Qdrant collection "cli_test"/);
      assert.match(first.stdout, /^indexed {3}docs\/returns\.md \(2 chunks, sparse-only\)$/m);
      const again = await ingest(['docs/returns.md', '--workspace', 'T0QDRANT'], environment);
      assert.match(again.stdout, /^unchanged docs\/returns\.md \(2 chunks\)$/m);
      assert.deepEqual(qdrant.problems, []);
      assert.ok(qdrant.requests.some((request) => request.template?.endsWith('/points') && request.method === 'PUT'));
      assert.equal(await redis.get(`${prefix}index-version:T0QDRANT`), '1', 'one change, one version bump');
    } finally {
      await qdrant.close();
    }
  });

  test('a symlink loop, a self-referencing link and a second way into a directory are skipped with the reason', async () => {
    const looped = join(directory, 'looped');
    mkdirSync(join(looped, 'nested'), { recursive: true });
    writeFileSync(join(looped, 'guide.md'), '# Guide\n\nShip within two days.\n');
    writeFileSync(join(looped, 'nested', 'faq.md'), '# FAQ\n\nReturns take a week.\n');
    symlinkSync('..', join(looped, 'nested', 'up'));
    symlinkSync('self', join(looped, 'self'));
    symlinkSync('nested', join(looped, 'shortcut'));
    const result = await ingest(['looped', '--workspace', 'T0LOOP'], {});
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), [
      'skipped   looped/nested/up: symlink loop (leads back to looped)',
      'skipped   looped/self: symlink loop (the link never reaches a file or directory)',
      'skipped   looped/shortcut: already walked as looped/nested',
      'indexed   looped/guide.md (1 chunk, sparse-only)',
      'indexed   looped/nested/faq.md (1 chunk, sparse-only)',
      '2 files: 3 skipped, 2 indexed',
    ]);
  });

  test('refuses bad arguments with a usage message and exit code 2', async () => {
    const noWorkspace = await ingest(['docs'], {});
    assert.equal(noWorkspace.code, 2);
    assert.match(noWorkspace.stderr, /--workspace must be a Slack workspace or enterprise id/);
    const badScope = await ingest(['docs', '--workspace', 'T0CLI', '--scope', 'everyone'], {});
    assert.equal(badScope.code, 2);
    assert.match(badScope.stderr, /--scope must be "workspace" or "channel:<channel id>"/);
  });
});
