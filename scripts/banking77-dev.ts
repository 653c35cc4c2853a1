/**
 * The BANKING77 dev data for learning from corrections (issue 16), built from the copy of BANKING77's train split
 * in `eval/tickets/banking77-dev/` (see its PROVENANCE.md).
 *
 *   npm run eval:tickets:banking77   writes eval/tickets/banking77-dev/generated/*.jsonl (git-ignored)
 *
 * Guarantees:
 * - Every message gets the category and urgency of its intent (`intent-categories.json`, fixed before any
 *   measurement from the mapping in eval/tickets/README.md); the other ticket fields are labelled empty.
 * - The split depends only on each text (SHA-256), so it is the same on every machine and run: one fifth is
 *   `heldout.jsonl`, never used to choose anything; the rest is `dev.jsonl`, cut into five folds
 *   (`dev-fold-N-examples.jsonl` / `dev-fold-N-test.jsonl`) for cross-validation. No text is in two parts.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { emptyTicket, type Ticket, type UrgencyLevel } from '../src/capabilities/tickets/ticket-schema.ts';

export const banking77Directory = fileURLToPath(new URL('../eval/tickets/banking77-dev/', import.meta.url));
export const generatedDirectory = `${banking77Directory}generated/`;
export const foldCount = 5;

export interface Banking77Message {
  /** CSV line number (the header is line 1). */
  line: number;
  text: string;
  intent: string;
}

/** A labelled message in the eval format of eval/tickets/README.md. */
export interface LabelledMessage {
  id: string;
  text: string;
  messageTs: string;
  timeZone: string;
  basedOn: { dataset: string; line: number; intent: string };
  expected: Ticket;
}

/** RFC 4180 fields (quoted fields may hold commas, doubled quotes and newlines); one pass, linear. */
export function parseCsv(content: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < content.length; index += 1) {
    const character = content[index];
    if (quoted) {
      if (character === '"' && content[index + 1] === '"') {
        field += '"';
        index += 1;
      } else if (character === '"') quoted = false;
      else field += character;
    } else if (character === '"') quoted = true;
    else if (character === ',') {
      row.push(field);
      field = '';
    } else if (character === '\n' || character === '\r') {
      if (character === '\r' && content[index + 1] === '\n') index += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += character;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export function readBanking77(): Banking77Message[] {
  const rows = parseCsv(gunzipSync(readFileSync(`${banking77Directory}train.csv.gz`)).toString('utf8'));
  const [header, ...body] = rows;
  if (header?.join(',') !== 'text,category') throw new Error('train.csv.gz: unexpected header');
  return body.map(([text, intent], index) => ({ line: index + 2, text: text ?? '', intent: intent ?? '' }));
}

export function readIntentLabels(): Record<string, { category: string; urgency: UrgencyLevel }> {
  return JSON.parse(readFileSync(`${banking77Directory}intent-categories.json`, 'utf8'));
}

/** 0–4: the held-out part is 0; 1–4 are dev. A second hash spreads dev over the folds 1–5. */
function bucketOf(text: string, salt: string): number {
  return createHash('sha256').update(`${salt}\n${text}`).digest().readUInt32BE(0) % foldCount;
}

export function isHeldOut(text: string): boolean {
  return bucketOf(text, 'banking77-heldout') === 0;
}

/** Fold 1–5 of a dev message. */
export function devFoldOf(text: string): number {
  return bucketOf(text, 'banking77-dev-fold') + 1;
}

export function labelled(message: Banking77Message): LabelledMessage {
  const label = readIntentLabelsCached()[message.intent];
  if (!label) throw new Error(`intent-categories.json lacks ${message.intent}`);
  return {
    id: `b77-${message.line}`,
    text: message.text,
    // 2026-11-24T09:00:00Z, a Tuesday: a fixed reference instant (BANKING77 has no dates).
    messageTs: '1795510800.000000',
    timeZone: 'UTC',
    basedOn: { dataset: 'banking77/train.csv', line: message.line, intent: message.intent },
    expected: emptyTicket({ summary: message.text, category: label.category, urgency: label.urgency }),
  };
}

let intentLabels: ReturnType<typeof readIntentLabels> | undefined;
function readIntentLabelsCached(): ReturnType<typeof readIntentLabels> {
  intentLabels ??= readIntentLabels();
  return intentLabels;
}

export interface Banking77Split {
  heldOut: LabelledMessage[];
  dev: LabelledMessage[];
  /** Fold number (1–5) of each dev message, by id. */
  foldOf: Map<string, number>;
}

export function splitBanking77(): Banking77Split {
  const heldOut: LabelledMessage[] = [];
  const dev: LabelledMessage[] = [];
  const foldOf = new Map<string, number>();
  for (const message of readBanking77()) {
    const example = labelled(message);
    if (isHeldOut(message.text)) heldOut.push(example);
    else {
      dev.push(example);
      foldOf.set(example.id, devFoldOf(message.text));
    }
  }
  return { heldOut, dev, foldOf };
}

function writeJsonl(path: string, messages: readonly LabelledMessage[]): void {
  writeFileSync(
    path,
    messages
      .map((message) => JSON.stringify(message))
      .join('\n')
      .concat('\n'),
  );
}

function main(): void {
  const { heldOut, dev, foldOf } = splitBanking77();
  mkdirSync(generatedDirectory, { recursive: true });
  writeJsonl(`${generatedDirectory}heldout.jsonl`, heldOut);
  writeJsonl(`${generatedDirectory}dev.jsonl`, dev);
  for (let fold = 1; fold <= foldCount; fold += 1) {
    writeJsonl(
      `${generatedDirectory}dev-fold-${fold}-examples.jsonl`,
      dev.filter((message) => foldOf.get(message.id) !== fold),
    );
    writeJsonl(
      `${generatedDirectory}dev-fold-${fold}-test.jsonl`,
      dev.filter((message) => foldOf.get(message.id) === fold),
    );
  }
  console.log(`held out ${heldOut.length}, dev ${dev.length} in ${foldCount} folds → ${generatedDirectory}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
