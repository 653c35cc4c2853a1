/**
 * `npm run eval:answers -- --feedback FILE [--workspace T…] [--allow-lost]`: the feedback regression check.
 *
 * Reads a `npm run feedback:export` file line by line, searches each question again against the configured index
 * (as the app would: the row's workspace and channel; sparse retrieval, so no model is called and no key is
 * needed) and prints, per answer and vote, whether the chunks it cited are kept, moved or lost
 * (src/capabilities/answers/feedback-replay.ts), then the totals split by helpful and not helpful and one JSON
 * line with them. Exit code 1 when a helpful answer lost its chunks (unless --allow-lost), 2 on bad arguments or
 * a line that cannot be read (named by its number).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseFeedbackLine, type ReplayableFeedback } from '../src/capabilities/answers/feedback-export.ts';
import { countResult, emptyTotals, replayFeedback } from '../src/capabilities/answers/feedback-replay.ts';
import { buildFeedbackTools } from '../src/composition/build-feedback-tools.ts';

const usage = 'Usage: npm run eval:answers -- --feedback FILE [--workspace T0123ABCD] [--allow-lost]';

class UsageError extends Error {}

async function* readRows(path: string): AsyncGenerator<ReplayableFeedback> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  for await (const line of lines) {
    number += 1;
    if (!line.trim()) continue;
    const parsed = parseFeedbackLine(line);
    if (!parsed.ok) throw new UsageError(`${path}:${number}: ${parsed.error}`);
    yield parsed.row;
  }
}

const cut = (text: string, length: number) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

/** Runs the check; resolves to the process exit code. */
export async function runFeedbackEval(argv: string[], environment = process.env): Promise<number> {
  let values: { feedback?: string; workspace?: string; 'allow-lost'?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        feedback: { type: 'string' },
        workspace: { type: 'string' },
        'allow-lost': { type: 'boolean', default: false },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`eval:answers: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (!values.feedback) {
    console.error(`eval:answers: --feedback needs a file from npm run feedback:export\n${usage}`);
    return 2;
  }
  if (values.workspace !== undefined && !/^[TE][A-Z0-9]{1,40}$/.test(values.workspace)) {
    console.error(`eval:answers: --workspace must be a Slack id such as T0123ABCD\n${usage}`);
    return 2;
  }
  const built = buildFeedbackTools(environment);
  if (!built.ok) {
    console.error(`eval:answers: fix these settings first:\n  - ${built.problems.join('\n  - ')}`);
    return 2;
  }
  const { tools } = built;
  const totals = emptyTotals();
  try {
    const retrieve = await tools.retriever();
    const rows = readRows(values.feedback);
    const options = values.workspace ? { workspaceId: values.workspace } : {};
    for await (const result of replayFeedback(rows, retrieve, options)) {
      countResult(totals, result);
      const detail =
        result.verdict === 'lost'
          ? `lost: ${result.lostDocuments.map((title) => `“${cut(title, 60)}”`).join(', ')}`
          : result.verdict === 'moved'
            ? `moved: ${result.missing.length} of ${result.missing.length + result.kept.length} chunk(s) no longer retrieved`
            : result.verdict === 'kept'
              ? `${result.kept.length} chunk(s) still retrieved`
              : 'cited nothing';
      const vote = result.vote === 'helpful' ? 'helpful    ' : 'not helpful';
      const reason = result.reason ? ` (${result.reason})` : '';
      console.log(
        `${result.verdict.toUpperCase().padEnd(12)} ${vote}${reason}  ${cut(result.question, 70)} — ${detail}`,
      );
    }
  } catch (error) {
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code === 'ENOENT') {
      console.error(`eval:answers: ${(error as Error).message}`);
      return 2;
    }
    throw error;
  } finally {
    await tools.close();
  }
  for (const vote of ['helpful', 'not_helpful'] as const) {
    const t = totals[vote];
    console.log(
      `${vote.replace('_', ' ')}: ${t.kept} kept, ${t.moved} moved, ${t.lost} lost, ${t.no_citations} without citations`,
    );
  }
  console.log(JSON.stringify({ feedbackReplay: totals }));
  if (totals.helpful.lost > 0 && !values['allow-lost']) {
    console.error(`eval:answers: ${totals.helpful.lost} helpful answer(s) lost their cited chunks`);
    return 1;
  }
  return 0;
}
