import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ledger, type LedgerEntry, readLedger } from '../../src/llm/ledger.ts';

const entry = (requestId: string, costMicroUsd: number): LedgerEntry => ({
  at: new Date().toISOString(),
  requestId,
  workspaceId: 'T1',
  channelId: 'C1',
  day: '2026-11-28',
  month: '2026-11',
  model: 'gpt-4o-mini',
  purpose: 'test',
  costMicroUsd,
  inputTokens: 10,
  outputTokens: 5,
});

describe('Ledger', () => {
  test('commits concurrent appends to one file per instance and resolves each once it is on disk', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const ledger = new Ledger(dataDir);
      await Promise.all(Array.from({ length: 25 }, (_, index) => ledger.append(entry(`r${index}`, index))));
      const lines = (await readFile(ledger.file, 'utf8')).trim().split('\n');
      assert.equal(lines.length, 25);
      await ledger.append(entry('late', 1));
      await ledger.close();
      const other = new Ledger(dataDir);
      await other.append(entry('from-another-process', 2));
      await other.close();
      assert.equal((await readdir(ledger.directory)).length, 2);
      const { entries, badLines } = await readLedger(ledger.directory);
      assert.equal(entries.length, 27);
      assert.equal(badLines, 0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('close() commits entries still waiting for the group-commit window', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const ledger = new Ledger(dataDir, { flushDelayMs: 10_000 });
      const appended = ledger.append(entry('waiting', 7));
      await ledger.close();
      await appended;
      assert.match(await readFile(ledger.file, 'utf8'), /"requestId":"waiting"/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('skips and counts lines that do not parse, such as a line torn by a crash', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'deskhand-ledger-'));
    try {
      const ledger = new Ledger(dataDir);
      await ledger.append(entry('good', 3));
      await ledger.close();
      await appendFile(ledger.file, '{"requestId":"torn","costMicro');
      const { entries, badLines } = await readLedger(ledger.directory);
      assert.deepEqual(
        entries.map((item) => item.requestId),
        ['good'],
      );
      assert.equal(badLines, 1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
