/** The documents quantized-index-crash.test.ts and its worker agree on: 5 chunks of 64 seeded dimensions each. */
import type { ChunkRecord } from '../../src/ports/vector-index.ts';

export const crashDimensions = 64;

export function crashVector(documentNumber: number, chunkIndex: number): Float32Array {
  let seed = (documentNumber * 7919 + chunkIndex * 104_729 + 1) >>> 0;
  return Float32Array.from({ length: crashDimensions }, () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  });
}

export function crashDocument(documentNumber: number): ChunkRecord[] {
  const documentId = `doc-${documentNumber}`;
  return Array.from({ length: 5 }, (_, chunkIndex) => ({
    id: `${documentId}-${chunkIndex}`,
    documentId,
    workspaceId: 'W1',
    scope: documentNumber % 3 === 0 ? 'channel:C1' : 'workspace',
    title: `Document ${documentNumber}`,
    sectionPath: [],
    source: `${documentId}.md`,
    chunkIndex,
    contentHash: `${documentId}:${chunkIndex}`,
    documentHash: documentId,
    ingestedAt: '2026-11-28T00:00:00.000Z',
    text: `document ${documentNumber} chunk ${chunkIndex} about refunds and invoices`,
    tokenCount: 8,
    dense: crashVector(documentNumber, chunkIndex),
  }));
}
