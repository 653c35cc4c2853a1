/**
 * Nested cross-validation for sparse parameters (scripts/sparse-cross-validation.ts) and the variants script on the
 * in-repo SciFact sample: folds are stable and balanced, a configuration that only wins on the folds it was chosen on
 * shows no held-out gain, and the script's baseline equals the shipped BM25 defaults.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { foldDeltas, foldOf, meanWhere, nestedCrossValidation } from '../../scripts/sparse-cross-validation.ts';

const run = promisify(execFile);

describe('sparse cross-validation', () => {
  test('a query keeps its fold across calls and 1,000 ids spread over five folds', () => {
    const ids = Array.from({ length: 1000 }, (_, index) => `q${index}`);
    const folds = ids.map((id) => foldOf(id, 5));
    assert.deepEqual(
      ids.map((id) => foldOf(id, 5)),
      folds,
    );
    for (let fold = 0; fold < 5; fold += 1) {
      const size = folds.filter((value) => value === fold).length;
      assert.ok(size > 150 && size < 250, `fold ${fold} holds ${size}`);
    }
    assert.notDeepEqual(
      ids.map((id) => foldOf(id, 5, 'other salt')),
      folds,
    );
  });

  test('each fold is chosen on the others: a configuration that wins only where it is scored gains nothing', () => {
    // Four queries per fold, three folds. "overfit" is perfect on fold 0 and poor elsewhere; "steady" beats the
    // baseline a little everywhere.
    const folds = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
    const scores = {
      baseline: Array(12).fill(0.5),
      steady: Array(12).fill(0.6),
      overfit: [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
    };
    const outcomes = nestedCrossValidation(scores, folds, 3, 'baseline');
    assert.deepEqual(
      outcomes.map((outcome) => outcome.chosen),
      ['steady', 'steady', 'steady'],
    );
    for (const outcome of outcomes) {
      assert.equal(outcome.heldOutMean, 0.6);
      assert.equal(outcome.baselineMean, 0.5);
    }
    const rows = foldDeltas(scores, folds, 3, 'baseline');
    assert.equal(rows[0]?.name, 'steady');
    assert.ok(Math.abs((rows[0]?.worst ?? 0) - 0.1) < 1e-12);
    assert.equal(rows[1]?.name, 'overfit');
    assert.ok(Math.abs((rows[1]?.worst ?? 0) + 0.4) < 1e-12);
    assert.equal(
      meanWhere([1, 2, 3], (position) => position > 0),
      2.5,
    );
  });

  test('a fold whose training folds favour the overfitting configuration reports its held-out loss', () => {
    const folds = [0, 0, 1, 1, 2, 2];
    const scores = { baseline: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], lucky: [0.3, 0.3, 0.9, 0.9, 0.9, 0.9] };
    const outcome = nestedCrossValidation(scores, folds, 3, 'baseline')[0];
    assert.equal(outcome?.chosen, 'lucky');
    assert.ok(Math.abs((outcome?.heldOutMean ?? 0) - 0.3) < 1e-12);
    assert.throws(() => nestedCrossValidation(scores, folds, 3, 'missing'), /baseline "missing"/);
  });

  test('eval:sparse-variants on the sample: the baseline is the shipped BM25 and every fold is reported', async () => {
    const { stdout } = await run(process.execPath, ['scripts/eval-sparse-variants.ts', '--family', 'k1b'], {
      timeout: 60_000,
    });
    assert.match(stdout, /baseline k1=0\.9 b=0\.4\s+nDCG@10 0\.\d{4}/);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      queries: number;
      documents: number;
      outcomes: unknown[];
      baselineMean: number;
    };
    assert.equal(summary.queries, 60);
    assert.equal(summary.documents, 280);
    assert.equal(summary.outcomes.length, 5);
    assert.ok(summary.baselineMean > 0.8, `baseline ${summary.baselineMean}`);
  });

  test('eval:sparse-variants --family analyzer on the sample: the shipped analyzer is the "letter/digit split 1" variant', async () => {
    const { stdout } = await run(process.execPath, ['scripts/eval-sparse-variants.ts', '--family', 'analyzer'], {
      timeout: 60_000,
    });
    const ndcg = (name: string) => stdout.match(new RegExp(`^  ${name}\\s+nDCG@10 (\\d\\.\\d{4})$`, 'm'))?.[1];
    assert.ok(ndcg('baseline k1=0\\.9 b=0\\.4'));
    assert.equal(ndcg('analyzer letter/digit split 1 \\(= shipped default\\)'), ndcg('baseline k1=0\\.9 b=0\\.4'));
    assert.match(stdout, /^Adoptable \(mean ≥ \+0\.004/m);
  });

  test('a bad option is refused with a clear message', async () => {
    await assert.rejects(
      run(process.execPath, ['scripts/eval-sparse-variants.ts', '--family', 'magic'], { timeout: 30_000 }),
      (error: { stderr?: string; code?: number }) => {
        assert.equal(error.code, 2);
        assert.match(
          error.stderr ?? '',
          /--family must be all or k1b, proximity, bm25f, rm3, analyzer, length, query, combo, analyzer-bm25f/,
        );
        return true;
      },
    );
  });
});
