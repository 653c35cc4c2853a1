/**
 * Shared helpers for the ingestion tests: fixture paths, a deterministic embedder that records its calls and can
 * fail on a chosen call, and an assertion that a promise rejects with a given refusal reason.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RejectionReason } from '../../src/capabilities/documents/ingestion/safety.ts';
import { DeskhandError, type OutcomeCode } from '../../src/errors.ts';
import type { Embedder, Embeddings } from '../../src/ports/embedder.ts';
import type { CallScope } from '../../src/ports/language-model.ts';
import { fixturesDirectory, openApiManualPath } from '../support/fixtures.ts';

export const localFixtures = join(fixturesDirectory, 'documents');
export const openApiManual = openApiManualPath;
export const japaneseDocs = join(localFixtures, 'non-english-ja-bolt-docs', 'japanese');

export function localFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(localFixtures, name)));
}

/** Vectors from a hash of the text: equal texts get equal vectors, different texts almost surely differ. */
export class DeterministicEmbedder implements Embedder {
  readonly model = 'test-embedding-model';
  readonly dimensions = 8;
  readonly calls: { texts: string[]; scope: CallScope }[] = [];
  /** 1-based call number that throws `upstream_unavailable`. */
  failOnCall: number | undefined;

  get embeddedTexts(): string[] {
    return this.calls.flatMap((call) => call.texts);
  }

  /** Usage is one token per character: deterministic, and spends nothing. */
  async embed(texts: string[], scope: CallScope): Promise<Embeddings> {
    this.calls.push({ texts: [...texts], scope });
    if (this.failOnCall === this.calls.length) {
      throw new DeskhandError('upstream_unavailable', 'embedding provider failed (scripted)', { retryable: true });
    }
    const vectors = texts.map((text) => {
      const digest = createHash('sha256').update(text).digest();
      return Float32Array.from({ length: this.dimensions }, (_, index) => ((digest[index] ?? 0) - 127.5) / 127.5);
    });
    return { vectors, inputTokens: texts.reduce((sum, text) => sum + text.length, 0), costMicroUsd: 0 };
  }
}

/** Asserts that `promise` rejects with a `DeskhandError` carrying `reason` and `code`; returns the error. */
export async function assertRejected(
  promise: Promise<unknown>,
  reason: RejectionReason,
  code: OutcomeCode,
): Promise<DeskhandError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DeskhandError, `expected a DeskhandError, got ${String(caught)}`);
  assert.equal(caught.details.reason, reason, caught.message);
  assert.equal(caught.code, code);
  return caught;
}
