/**
 * Parsing in bounded worker threads (issue 14, "Bounded work"): the same blocks and refusals as in the calling
 * thread, a worker past its heap limit or its wall-clock limit refused with that limit named while this process
 * carries on, and at most `maxConcurrent` parses at once, the rest in FIFO order.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ingestDocument } from '../../src/capabilities/documents/ingestion/ingest-document.ts';
import { ParseWorkers } from '../../src/capabilities/documents/ingestion/parse-in-worker.ts';
import { parseDocument } from '../../src/capabilities/documents/ingestion/parsers/parse-document.ts';
import { defaultIngestionLimits, type IngestionLimits } from '../../src/capabilities/documents/ingestion/safety.ts';
import { MemoryVectorIndex } from '../fakes/memory-vector-index.ts';
import { docxEntries, samplePages, textPdfObjects, writePdf, writeZip } from '../fixtures/documents/fixture-writers.ts';
import { bigDocx, sharedStreamPdf } from '../support/hostile-inputs.ts';
import { assertRejected } from './ingestion-test-support.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const limits = (overrides: Partial<IngestionLimits> = {}): IngestionLimits => ({
  ...defaultIngestionLimits,
  ...overrides,
});
/** Deeply nested block quotes: micromark takes ~15 s on 20k levels and checks no clock on the way. */
const slowMarkdown = encode(`${'>'.repeat(20_000)} quote`);

const workers = new ParseWorkers({ maxConcurrent: 2, killGraceMs: 200 });
after(() => workers.close());

describe('parsing in a bounded worker', () => {
  test('gives the same blocks as parsing in this thread, and leaves the caller its bytes', async () => {
    const bytes = writePdf(textPdfObjects('Returns Handbook', samplePages));
    const inThread = await parseDocument({ fileName: 'handbook.pdf', bytes }, limits());
    const inWorker = await workers.parse({ fileName: 'handbook.pdf', bytes }, limits());
    assert.deepEqual(inWorker, inThread);
    assert.deepEqual(
      bytes,
      writePdf(textPdfObjects('Returns Handbook', samplePages)),
      'the bytes were copied, not taken',
    );
    const docx = writeZip(docxEntries());
    assert.equal((await workers.parse({ fileName: 'guide.docx', bytes: docx }, limits())).title, 'Onboarding Guide');
  });

  test('a refusal crosses as the same coded error with its reason and user message', async () => {
    const error = await assertRejected(
      workers.parse({ fileName: 'shared.pdf', bytes: sharedStreamPdf(2_000) }, limits()),
      'too_large',
      'input_too_large',
    );
    assert.match(error.userMessage, /"shared\.pdf" is too large: it has 2,000 pages, the limit is 1,000/);
    assert.deepEqual([error.details.actual, error.details.limit], [2_000, 1_000]);
  });

  test('a stack overflow in the worker is a too_large refusal with the reason', async () => {
    const html = encode(`<html><body>${'<div>'.repeat(60_000)}deep${'</div>'.repeat(60_000)}</body></html>`);
    const error = await assertRejected(
      workers.parse({ fileName: 'deep.html', bytes: html }, limits()),
      'too_large',
      'input_too_large',
    );
    assert.match(error.userMessage, /too deeply nested for me to read \(Maximum call stack size exceeded\)/);
  });

  test('a worker that runs out of memory is refused naming the memory limit; the process and the pool carry on', async () => {
    const docx = bigDocx({ documentXmlBytes: 2_000_000 }).bytes;
    const error = await assertRejected(
      workers.parse({ fileName: 'heavy.docx', bytes: docx }, limits({ maxParseHeapMb: 16 })),
      'too_large',
      'input_too_large',
    );
    assert.match(error.userMessage, /"heavy\.docx" is too large: reading it needs more than the 16 MB of memory/);
    assert.equal(error.details.limit, 16);
    // The same document in a worker with the default heap parses.
    const parsed = await workers.parse({ fileName: 'heavy.docx', bytes: docx }, limits());
    assert.ok(parsed.blocks.length > 100);
  });

  test('a parse past the wall-clock limit is killed and refused naming the limit', async () => {
    const started = performance.now();
    const error = await assertRejected(
      workers.parse({ fileName: 'nested.md', bytes: slowMarkdown }, limits({ maxParseMilliseconds: 500 })),
      'too_slow',
      'deadline_exceeded',
    );
    const elapsed = performance.now() - started;
    assert.match(
      error.userMessage,
      /"nested\.md" takes too long to read: I stopped after [\d.]+ s, the limit is 0\.5 s/,
    );
    assert.ok(elapsed < 5_000, `refused after ${Math.round(elapsed)} ms`);
  });

  test('at most maxConcurrent parses run; the next waits its turn (FIFO)', async () => {
    const one = new ParseWorkers({ maxConcurrent: 1, killGraceMs: 100 });
    try {
      const finished: string[] = [];
      const slow = one
        .parse({ fileName: 'nested.md', bytes: slowMarkdown }, limits({ maxParseMilliseconds: 400 }))
        .catch(() => finished.push('slow'));
      const quick = one.parse({ fileName: 'notes.md', bytes: encode('# Notes\n\nShort.') }, limits()).then(() => {
        finished.push('quick');
      });
      assert.equal(one.running, 1);
      await Promise.all([slow, quick]);
      assert.deepEqual(finished, ['slow', 'quick']);
      assert.equal(one.running, 0);
    } finally {
      await one.close();
    }
  });

  test('ingestDocument parses in a bounded worker by default: its heap limit applies, the index is untouched', async () => {
    const index = new MemoryVectorIndex();
    const bytes = bigDocx({ documentXmlBytes: 2_000_000 }).bytes;
    const error = await assertRejected(
      ingestDocument(
        { workspaceId: 'T1', scope: 'workspace', source: 'heavy.docx', fileName: 'heavy.docx', bytes },
        { index, callScope: { workspaceId: 'T1', channelId: 'ingestion' }, limits: { maxParseHeapMb: 16 } },
      ),
      'too_large',
      'input_too_large',
    );
    assert.match(error.userMessage, /16 MB of memory/);
    assert.ok(!index.calls.some((call) => call.method === 'replaceDocument'), 'the index was not written');
  });
});
