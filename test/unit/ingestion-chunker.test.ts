import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  chunkDocument,
  type DocumentChunk,
  splitByTokens,
} from '../../src/capabilities/documents/ingestion/chunker.ts';
import type { DocumentBlock } from '../../src/capabilities/documents/ingestion/parsers/document-blocks.ts';
import { parseMarkdown } from '../../src/capabilities/documents/ingestion/parsers/parse-markdown.ts';
import { countTokens } from '../../src/llm/tokenizer.ts';
import { japaneseDocs, openApiManual } from './ingestion-test-support.ts';

const fencePattern = /^\s*(`{3,}|~{3,})(.*)$/;

/** Lines outside fenced code, with their index. */
function linesOutsideFences(text: string): { line: string; index: number }[] {
  const result: { line: string; index: number }[] = [];
  let open: string | undefined;
  text.split('\n').forEach((line, index) => {
    const fence = fencePattern.exec(line);
    if (fence?.[1]) {
      if (open === undefined) open = fence[1];
      else if (fence[1][0] === open[0] && fence[1].length >= open.length && (fence[2] ?? '').trim() === '')
        open = undefined;
      return;
    }
    if (open === undefined) result.push({ line, index });
  });
  return result;
}

function assertBalancedFences(chunk: DocumentChunk): void {
  let open: string | undefined;
  for (const line of chunk.text.split('\n')) {
    const fence = fencePattern.exec(line);
    if (!fence?.[1]) continue;
    if (open === undefined) open = fence[1];
    else if (fence[1][0] === open[0] && fence[1].length >= open.length && (fence[2] ?? '').trim() === '')
      open = undefined;
  }
  assert.equal(open, undefined, `unclosed code fence in chunk:\n${chunk.text}`);
}

/** Every run of table lines starts with one of the document's header rows followed by its delimiter row. */
function assertWholeTables(chunk: DocumentChunk, tables: Map<string, Set<string>>): void {
  const lines = linesOutsideFences(chunk.text);
  for (let position = 0; position < lines.length; position += 1) {
    const current = lines[position];
    const previous = lines[position - 1];
    if (!current || !/^\s*\|/.test(current.line)) continue;
    const startsRun = !previous || previous.index !== current.index - 1 || !/^\s*\|/.test(previous.line);
    if (!startsRun) continue;
    const separators = tables.get(current.line.trim());
    assert.ok(separators !== undefined, `table piece does not start with a header row:\n${chunk.text}`);
    const next = lines[position + 1];
    assert.ok(
      next?.index === current.index + 1 && separators.has(next.line.trim()),
      `header not followed by its delimiter row:\n${chunk.text}`,
    );
  }
}

function tableHeaders(blocks: DocumentBlock[]): Map<string, Set<string>> {
  const headers = new Map<string, Set<string>>();
  const visit = (block: DocumentBlock) => {
    if (block.kind === 'table') {
      const separators = headers.get(block.header.trim()) ?? new Set<string>();
      separators.add(block.separator.trim());
      headers.set(block.header.trim(), separators);
    }
    if (block.kind === 'prose') for (const part of block.parts ?? []) visit(part);
  };
  blocks.forEach(visit);
  return headers;
}

function assertValidChunks(blocks: DocumentBlock[], chunks: DocumentChunk[], maxTokens: number): void {
  const headers = tableHeaders(blocks);
  assert.ok(chunks.length > 0);
  for (const chunk of chunks) {
    assert.equal(chunk.tokenCount, countTokens(chunk.text), 'recorded token count is exact');
    assert.ok(chunk.tokenCount <= maxTokens, `chunk of ${chunk.tokenCount} tokens over ${maxTokens}`);
    assert.ok(chunk.text.trim().length > 0);
    assertBalancedFences(chunk);
    assertWholeTables(chunk, headers);
    if (chunk.overlapPrefixChars > 0) {
      const overlap = chunk.text.slice(0, chunk.overlapPrefixChars);
      assert.equal((overlap.match(/`/g)?.length ?? 0) % 2, 0, `overlap splits inline code: ${overlap}`);
      assert.match(overlap, /[\p{L}\p{N}]{2}/u, `overlap without words: ${overlap}`);
      assert.doesNotMatch(overlap, /^\s*(```|~~~|\||:::)/m, `overlap with half a structure: ${overlap}`);
    }
    // A chunk never spans two sections: its only heading, if any, opens it and names its section.
    const headingLines = linesOutsideFences(chunk.text).filter(({ line }) => /^#{1,6} /.test(line));
    assert.ok(headingLines.length <= 1, `chunk spans sections:\n${chunk.text}`);
    if (headingLines[0]) {
      assert.equal(headingLines[0].index, 0);
      assert.equal(headingLines[0].line.replace(/^#+ /, ''), chunk.sectionPath.at(-1));
    }
  }
}

describe('structure-aware chunker', () => {
  test('the OpenAPI manual yields no chunk over 400 tokens, no broken code block or table, and right section paths', () => {
    const document = parseMarkdown(readFileSync(openApiManual, 'utf8'));
    const chunks = chunkDocument(document.blocks);
    assertValidChunks(document.blocks, chunks, 400);
    const infoFields = chunks.find((chunk) => chunk.text.includes('<a name="info-title"></a>title'));
    assert.deepEqual(infoFields?.sectionPath, [
      'OpenAPI Specification',
      'Objects and Fields',
      'Info Object',
      'Fixed Fields',
    ]);
    assert.ok(infoFields?.text.startsWith('#### Fixed Fields\n\n| Field Name | Type | Description |'));
    // The manual's JSON and YAML examples keep their fences' languages.
    assert.ok(chunks.some((chunk) => chunk.text.includes('```json\n')));
    assert.ok(chunks.some((chunk) => chunk.text.includes('```yaml\n')));
    // Nothing lost: every code line of the manual appears in some chunk.
    const allText = chunks.map((chunk) => chunk.text).join('\n');
    for (const block of document.blocks) {
      if (block.kind === 'code') for (const line of block.value.split('\n')) assert.ok(allText.includes(line));
    }
  });

  test('the Japanese Bolt docs chunk within limits with intact tables and code, and Japanese section paths', () => {
    for (const name of readdirSync(japaneseDocs).filter((file) => file.endsWith('.md'))) {
      const document = parseMarkdown(readFileSync(join(japaneseDocs, name), 'utf8'));
      const chunks = chunkDocument(document.blocks);
      assertValidChunks(document.blocks, chunks, 400);
      // And at a tighter limit, where tables and paragraphs must split.
      assertValidChunks(document.blocks, chunkDocument(document.blocks, { maxTokens: 120, overlapTokens: 20 }), 120);
    }
    const reference = parseMarkdown(readFileSync(join(japaneseDocs, 'reference.md'), 'utf8'));
    const methods = chunkDocument(reference.blocks).find((chunk) => chunk.text.includes('`app.event(eventType, fn);`'));
    assert.deepEqual(methods?.sectionPath, ['リファレンス（Appインターフェイスと設定）', 'リスナー関数', 'メソッド']);
  });

  test('splits Japanese prose without spaces at sentence ends (。) and loses nothing', () => {
    const paragraph = Array.from(
      { length: 60 },
      (_, index) => `これは${index + 1}番目の文で、検索のために十分な長さがあります。`,
    ).join('');
    const chunks = chunkDocument([{ kind: 'prose', text: paragraph }], { maxTokens: 60, overlapTokens: 0 });
    assert.ok(chunks.length > 3);
    for (const chunk of chunks) {
      assert.ok(chunk.tokenCount <= 60);
      assert.ok(chunk.text.endsWith('。'), `cut inside a sentence: ${chunk.text}`);
    }
    assert.equal(chunks.map((chunk) => chunk.text).join(''), paragraph);
  });

  test('an oversized code block splits on lines and every piece re-opens the fence with its language', () => {
    const value = Array.from(
      { length: 300 },
      (_, index) => `const value${index} = compute(${index}); // step ${index}`,
    ).join('\n');
    const chunks = chunkDocument([{ kind: 'code', lang: 'ts', value }], { maxTokens: 120 });
    assert.ok(chunks.length > 5);
    const lines: string[] = [];
    for (const chunk of chunks) {
      assert.ok(chunk.tokenCount <= 120);
      assert.ok(chunk.text.startsWith('```ts\n') && chunk.text.endsWith('\n```'), chunk.text);
      lines.push(...chunk.text.split('\n').slice(1, -1));
    }
    assert.equal(lines.join('\n'), value);
  });

  test('an oversized table splits on rows and every piece repeats the header and delimiter rows', () => {
    const rows = Array.from({ length: 200 }, (_, index) => `| order-${index} | shipped | ${index * 3} days |`);
    const block: DocumentBlock = {
      kind: 'table',
      header: '| Order | Status | Age |',
      separator: '| --- | --- | ---: |',
      rows,
    };
    const chunks = chunkDocument([block], { maxTokens: 150 });
    assert.ok(chunks.length > 5);
    const seen: string[] = [];
    for (const chunk of chunks) {
      const [header, separator, ...body] = chunk.text.split('\n');
      assert.equal(header, '| Order | Status | Age |');
      assert.equal(separator, '| --- | --- | ---: |');
      seen.push(...body);
    }
    assert.deepEqual(seen, rows);
  });

  test('a table row too long for any chunk becomes prose naming each column instead of a broken table', () => {
    const longCell = 'word '.repeat(400).trim();
    const block: DocumentBlock = {
      kind: 'table',
      header: '| Key | Notes |',
      separator: '| --- | --- |',
      rows: [`| a | ${longCell} |`],
    };
    const chunks = chunkDocument([block], { maxTokens: 100, overlapTokens: 0 });
    assert.ok(chunks.length > 1);
    assert.ok(chunks.every((chunk) => chunk.tokenCount <= 100 && !chunk.text.startsWith('|')));
    const withoutSpace = (text: string) => text.replace(/\s+/g, '');
    assert.equal(withoutSpace(chunks.map((chunk) => chunk.text).join('')), withoutSpace(`Key: a\nNotes: ${longCell}`));
  });

  test('a 13,700-character line with no sentence end is hard-split between grapheme clusters, losing nothing', () => {
    const family = '👨‍👩‍👧‍👦';
    const accented = 'e\u0301';
    const unit = `Frank¬reich${family}Dnchhaudlaog${accented}«ß`;
    const line = unit.repeat(Math.ceil(13_700 / unit.length));
    assert.ok(line.length >= 13_700);
    const pieces = splitByTokens(line, 50, 'o200k_base');
    assert.ok(pieces.length > 10);
    assert.equal(pieces.join(''), line);
    const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(line);
    let offset = 0;
    for (const piece of pieces) {
      assert.ok(countTokens(piece) <= 50);
      assert.equal(graphemes.containing(offset)?.index, offset, `cut inside a grapheme at ${offset}`);
      offset += piece.length;
    }
    const chunks = chunkDocument([{ kind: 'prose', text: line }], { maxTokens: 50, overlapTokens: 0 });
    assert.equal(chunks.map((chunk) => chunk.text).join(''), line);
    assert.ok(chunks.every((chunk) => chunk.tokenCount <= 50));
  });

  test('overlap repeats whole trailing sentences of the previous chunk and overlapPrefixChars marks exactly them', () => {
    const sentences = Array.from(
      { length: 40 },
      (_, index) => `Sentence number ${index + 1} explains one more detail of the refund process.`,
    );
    const paragraph = sentences.join(' ');
    const chunks = chunkDocument([{ kind: 'prose', text: paragraph }], { maxTokens: 80, overlapTokens: 30 });
    assert.ok(chunks.length > 3);
    assert.equal(chunks[0]?.overlapPrefixChars, 0);
    let rebuilt = chunks[0]?.text ?? '';
    for (let index = 1; index < chunks.length; index += 1) {
      const chunk = chunks[index] as DocumentChunk;
      const previous = chunks[index - 1] as DocumentChunk;
      assert.ok(chunk.overlapPrefixChars > 0);
      const overlap = chunk.text.slice(0, chunk.overlapPrefixChars).trim();
      assert.ok(previous.text.endsWith(overlap), 'the overlap is the end of the previous chunk');
      assert.ok(countTokens(overlap) <= 30);
      assert.match(overlap, /^Sentence number \d+ /, 'the overlap starts at a sentence boundary');
      rebuilt += ` ${chunk.text.slice(chunk.overlapPrefixChars)}`;
    }
    assert.equal(rebuilt, paragraph, 'dropping the overlap prefixes gives the text back');
  });

  test('PDF pages and sections start new chunks and chunks carry their page', () => {
    const blocks: DocumentBlock[] = [
      { kind: 'prose', text: 'Page one text.', page: 1 },
      { kind: 'prose', text: 'Page two text.', page: 2 },
      { kind: 'prose', text: 'More page two text.', page: 2 },
    ];
    const chunks = chunkDocument(blocks);
    assert.deepEqual(
      chunks.map((chunk) => [chunk.page, chunk.text]),
      [
        [1, 'Page one text.'],
        [2, 'Page two text.\n\nMore page two text.'],
      ],
    );
  });
});
