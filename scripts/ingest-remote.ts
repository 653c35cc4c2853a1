/**
 * `npm run ingest -- … --app-url`: hands each file to the running app's `POST /admin/ingest`
 * (src/slack/admin-ingest-route.ts) instead of opening the index, so documents can be added while the app serves
 * (the embedded index takes one writer: the app). A file is reported `indexed`/`replaced`/`removed` only once the
 * app has answered 200, which it does after the index made the change durable — so a line printed here survives
 * a kill -9 of the app. A 429 (the app's or the workspace's ingestion cap) is retried after `retry-after`, for at
 * most `maxWaitMs` per file (`--wait`); a dropped connection (the app restarting) is retried the same way. Once a
 * file has failed because the app stopped answering, each further file gets one attempt instead of a whole window
 * (the app died: a batch of N files must not take N × `maxWaitMs` to report), until the app answers again.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RemoteOutcome {
  kind: string;
  line: string;
  problem: boolean;
  /** The app never answered (connection refused or dropped) within the file's window. */
  unreachable?: boolean;
}

export interface RemoteIngestOptions {
  appUrl: string;
  token: string;
  workspaceId: string;
  scope: string;
  remove: boolean;
  /**
   * How long one file may wait for the app (busy, restarting) before it is reported failed (default 60 s); 0
   * still makes one attempt.
   */
  maxWaitMs?: number;
}

interface Answer {
  kind?: string;
  chunkCount?: number;
  embeddedChunks?: number;
  cachedChunks?: number;
  error?: string;
  message?: string;
}

/** Sends one file; never throws (a failure is an outcome line). */
export async function ingestRemotely(
  file: string,
  shown: string,
  options: RemoteIngestOptions,
): Promise<RemoteOutcome> {
  const url = new URL('/admin/ingest', options.appUrl);
  let body: string;
  try {
    body = JSON.stringify({
      workspaceId: options.workspaceId,
      scope: options.scope,
      source: file,
      fileName: basename(file),
      ...(options.remove
        ? { remove: true }
        : { contentBase64: statSync(file).isFile() ? readFileSync(file).toString('base64') : '' }),
    });
  } catch (error) {
    return { kind: 'failed', line: `${'failed'.padEnd(9)} ${shown}: ${(error as Error).message}`, problem: true };
  }
  const deadline = Date.now() + (options.maxWaitMs ?? 60_000);
  let lastProblem = '';
  let unreachable = false;
  for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt += 1) {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(120_000),
      });
    } catch (error) {
      lastProblem = `the app at ${options.appUrl} did not answer (${connectionProblem(error)})`;
      unreachable = true;
      await sleep(Math.min(5_000, 250 * 2 ** attempt, Math.max(0, deadline - Date.now())));
      continue;
    }
    unreachable = false;
    const answer = (await response.json().catch(() => ({}))) as Answer;
    if (response.status === 429 || response.status === 503) {
      lastProblem = answer.message ?? `the app answered ${response.status}`;
      const retryAfter = Number(response.headers.get('retry-after') ?? 1);
      await sleep(Math.min(10_000, Math.max(250, retryAfter * 1_000), Math.max(0, deadline - Date.now())));
      continue;
    }
    if (response.status === 401) {
      return {
        kind: 'failed',
        line: `${'failed'.padEnd(9)} ${shown}: the app refused the token (check ADMIN_API_TOKEN matches the app's)`,
        problem: true,
      };
    }
    if (!response.ok || !answer.kind) {
      const kind = response.status === 422 || response.status === 413 ? 'rejected' : 'failed';
      const message = answer.message ?? `the app answered ${response.status}`;
      return { kind, line: `${kind.padEnd(9)} ${shown}: ${message}`, problem: true };
    }
    const chunks = `${answer.chunkCount} ${answer.chunkCount === 1 ? 'chunk' : 'chunks'}`;
    const detail =
      answer.kind === 'removed' || answer.kind === 'not_found'
        ? ''
        : answer.kind === 'unchanged'
          ? ` (${chunks})`
          : ` (${chunks}, ${answer.embeddedChunks} embedded, ${answer.cachedChunks} from cache, by the app)`;
    return { kind: answer.kind, line: `${answer.kind.padEnd(9)} ${shown}${detail}`, problem: false };
  }
  return {
    kind: 'failed',
    line: `${'failed'.padEnd(9)} ${shown}: ${lastProblem || 'timed out'}`,
    problem: true,
    ...(unreachable ? { unreachable } : {}),
  };
}

/**
 * Sends `files` one after the other, printing each outcome line as it comes; never throws. After a file failed
 * because the app stopped answering, the next ones get a single attempt each (see the header).
 */
export async function ingestFilesRemotely(
  files: readonly { file: string; shown: string }[],
  options: RemoteIngestOptions,
  print: (line: string) => void,
): Promise<{ counts: Record<string, number>; problems: number }> {
  const counts: Record<string, number> = {};
  let problems = 0;
  let appDown = false;
  for (const { file, shown } of files) {
    const outcome = await ingestRemotely(file, shown, appDown ? { ...options, maxWaitMs: 0 } : options);
    appDown = outcome.unreachable === true;
    counts[outcome.kind] = (counts[outcome.kind] ?? 0) + 1;
    if (outcome.problem) problems += 1;
    print(outcome.line);
  }
  return { counts, problems };
}

/** Why a request got no answer, in words ("connection refused"), from fetch's error and its cause. */
function connectionProblem(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'the connection was closed before the answer';
  if ((error as Error).name === 'TimeoutError') return 'no answer within 120 s';
  return cause?.message ?? (error as Error).message;
}
