/**
 * Writes a workspace's feedback on answers as JSON lines: one line per vote, with the question, the answer, the
 * cited chunks (`<document id>#<chunk index>`, titles and sections), the vote and a 👎's reason and note.
 *
 *   npm run feedback:export -- --workspace T0123ABCD [--since 2026-11-01] [--out feedback.jsonl]
 *
 * Reads the Redis the app uses (REDIS_URL, REDIS_KEY_PREFIX; other settings validated as the app validates them,
 * Slack credentials not needed). Memory stays bounded: answers are read a page at a time and each line is written
 * as it is made. Without --out the lines go to stdout; the count goes to stderr. Exit code 2 on bad arguments.
 * Each line's fields: workspace, channel, answerId, question, standaloneQuestion, answer, cited[{number, documentId,
 * title, sectionPath, chunkIds}], vote (helpful | not_helpful), reason (wrong | outdated | missing_source | other),
 * text, at (the vote), answeredAt, indexVersion.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { exportFeedback } from '../src/capabilities/answers/feedback-export.ts';
import { buildFeedbackTools } from '../src/composition/build-feedback-tools.ts';

const usage = 'Usage: npm run feedback:export -- --workspace T0123ABCD [--since 2026-11-01] [--out FILE]';

function fail(message: string): never {
  console.error(`feedback:export: ${message}\n${usage}`);
  process.exit(2);
}

let values: { workspace?: string; since?: string; out?: string };
try {
  ({ values } = parseArgs({
    options: { workspace: { type: 'string' }, since: { type: 'string' }, out: { type: 'string' } },
    allowPositionals: false,
  }));
} catch (error) {
  fail((error as Error).message);
}
const workspaceId = values.workspace;
if (!workspaceId || !/^[TE][A-Z0-9]{1,40}$/.test(workspaceId)) fail('--workspace must be a Slack id such as T0123ABCD');
let sinceMs = 0;
if (values.since !== undefined) {
  sinceMs = /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?$/.test(values.since) ? Date.parse(values.since) : Number.NaN;
  if (!Number.isFinite(sinceMs)) fail(`--since must be a date such as 2026-11-01, not "${values.since}"`);
}

const built = buildFeedbackTools(process.env);
if (!built.ok) fail(`fix these settings first:\n  - ${built.problems.join('\n  - ')}`);
const { tools } = built;
const output = values.out ? createWriteStream(values.out) : process.stdout;
let lines = 0;
try {
  for await (const row of exportFeedback(tools.feedback, workspaceId, { sinceMs })) {
    if (!output.write(`${JSON.stringify(row)}\n`)) await once(output, 'drain');
    lines += 1;
  }
  if (output !== process.stdout) {
    output.end();
    await once(output, 'finish');
  }
  console.error(`feedback:export: ${lines} line(s) for ${workspaceId}${values.out ? ` written to ${values.out}` : ''}`);
} finally {
  await tools.close();
}
