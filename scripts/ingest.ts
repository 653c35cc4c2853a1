/**
 * `npm run ingest -- <paths…> --workspace T… [--scope workspace|channel:C…] [--remove]`
 *
 * Ingests files (directories are walked, hidden entries skipped; a directory reached again through a symlink, a loop
 * or an unreadable path is reported as skipped with the reason) through the same `ingestDocument` pipeline the
 * Slack app uses, into the index the configuration selects (Qdrant when QDRANT_URL is set, with index versions in
 * Redis; otherwise the embedded index under DATA_DIR/index). Dense vectors only when OPENAI_API_KEY is set, through the gateway so budgets apply; without
 * it the chunks are sparse-only and the script says so. Prints each file's outcome (indexed / unchanged /
 * replaced / removed / rejected with the reason) and exits 1 if any file was rejected or failed.
 *
 * The embedded index is a single-writer store (`index.lock`, held by whoever opened it). With `--app-url`, or when a
 * running app holds it and ADMIN_API_TOKEN is set, the files go to that app's `POST /admin/ingest` instead
 * (ingest-remote.ts) and the app writes them; against a held index without a token the run is refused, saying how.
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { QdrantClient } from '@qdrant/js-client-rest';
import { MultiBar, Presets } from 'cli-progress';
import OpenAI from 'openai';
import { pino } from 'pino';
import { EmbeddedVectorIndex } from '../src/adapters/embedded-vector-index.ts';
import { IndexLockedError, readIndexLock } from '../src/adapters/index-directory-lock.ts';
import { RedisIndexVersionCounter } from '../src/adapters/index-version-counter.ts';
import { QdrantVectorIndex } from '../src/adapters/qdrant-vector-index.ts';
import { RedisEmbeddingCache } from '../src/capabilities/documents/ingestion/embedding-cache.ts';
import { ingestDocument, removeDocument } from '../src/capabilities/documents/ingestion/ingest-document.ts';
import type {
  IngestDocumentDependencies,
  IngestionProgress,
} from '../src/capabilities/documents/ingestion/ingestion-types.ts';
import { checkSize, defaultIngestionLimits, rejectionReason } from '../src/capabilities/documents/ingestion/safety.ts';
import { type Configuration, loadConfiguration } from '../src/composition/config.ts';
import { createGateway } from '../src/composition/create-gateway.ts';
import { createRedis, type RedisClient } from '../src/composition/create-redis.ts';
import { isDeskhandError } from '../src/errors.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import type { Embedder } from '../src/ports/embedder.ts';
import type { DocumentScope, VectorIndex } from '../src/ports/vector-index.ts';
import { ingestFilesRemotely } from './ingest-remote.ts';

const usage = `Usage: npm run ingest -- <file-or-directory>… --workspace T0123ABCD [--scope workspace|channel:C0123ABCD] [--remove] [--app-url http://host:PORT] [--wait SECONDS]

  --workspace  the Slack workspace (team) id the documents belong to (required)
  --scope      who may see them: the whole workspace (default) or one channel
  --remove     remove the documents at these paths instead of ingesting them
  --app-url    hand the files to the running app (POST /admin/ingest, ADMIN_API_TOKEN in the environment) instead
               of opening the index; chosen by itself (http://127.0.0.1:PORT) when a running app holds the
               embedded index and ADMIN_API_TOKEN is set
  --wait       with the app: how long one file keeps being retried while the app is busy or not answering
               (default 60); once the app stopped answering, the remaining files get one attempt each`;

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

function parseCommandLine() {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  const options = {
    workspace: { type: 'string' },
    scope: { type: 'string', default: 'workspace' },
    remove: { type: 'boolean', default: false },
    'app-url': { type: 'string' },
    wait: { type: 'string', default: '60' },
    help: { type: 'boolean', short: 'h', default: false },
  } as const;
  try {
    parsed = parseArgs({ options, allowPositionals: true });
  } catch (error) {
    fail((error as Error).message);
  }
  if (parsed.values.help) {
    console.log(usage);
    process.exit(0);
  }
  const workspaceId = parsed.values.workspace;
  if (!workspaceId || !/^[TE][A-Z0-9]+$/.test(workspaceId)) {
    fail('--workspace must be a Slack workspace or enterprise id such as T0123ABCD.');
  }
  const scope = parsed.values.scope;
  if (scope !== 'workspace' && !/^channel:[CGD][A-Z0-9]+$/.test(scope)) {
    fail(`--scope must be "workspace" or "channel:<channel id>" such as channel:C0123ABCD, not "${scope}".`);
  }
  if (parsed.positionals.length === 0) fail('Give at least one file or directory.');
  const appUrl = parsed.values['app-url'];
  if (appUrl !== undefined && !URL.canParse(appUrl)) fail(`--app-url must be a URL such as http://127.0.0.1:3000.`);
  const wait = Number(parsed.values.wait);
  if (!Number.isFinite(wait) || wait < 0 || wait > 3_600) {
    fail(`--wait must be a number of seconds from 0 to 3600, not "${parsed.values.wait}".`);
  }
  return {
    workspaceId,
    scope: scope as DocumentScope,
    remove: parsed.values.remove,
    paths: parsed.positionals,
    appUrl,
    maxWaitMs: wait * 1_000,
  };
}

interface SkippedPath {
  path: string;
  reason: string;
}

/** Why a path could not be read, in words, for the `skipped` line. */
function unreadable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'symlink loop (the link never reaches a file or directory)';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return `cannot be read (${code ?? (error as Error).message})`;
}

/**
 * Files under the given paths, sorted; hidden files and directories and node_modules are skipped. Symlinks are
 * followed, but every directory is walked once by its real path: a link back to a directory being walked (a loop)
 * or to one already walked is skipped with the reason, as is anything unreadable — the walk never throws.
 */
function collectFiles(paths: string[]): { files: string[]; missing: string[]; skipped: SkippedPath[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const skipped: SkippedPath[] = [];
  /** Real path of each directory walked → the path it was walked as. */
  const walked = new Map<string, string>();
  const visit = (path: string, ancestors: ReadonlySet<string>) => {
    let stats: ReturnType<typeof statSync>;
    let real: string;
    try {
      stats = statSync(path, { throwIfNoEntry: false });
      if (!stats) {
        missing.push(path);
        return;
      }
      real = realpathSync(path);
    } catch (error) {
      skipped.push({ path, reason: unreadable(error) });
      return;
    }
    if (stats.isDirectory()) {
      const earlier = walked.get(real);
      if (earlier !== undefined) {
        // Naming the same directory twice (`docs docs/nested`) is not worth a line; reaching it again in a walk is.
        const named = ancestors.size === 0 && !lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink();
        if (ancestors.has(real)) skipped.push({ path, reason: `symlink loop (leads back to ${earlier})` });
        else if (!named) skipped.push({ path, reason: `already walked as ${earlier}` });
        return;
      }
      walked.set(real, path);
      let entries: string[];
      try {
        entries = readdirSync(path).sort();
      } catch (error) {
        skipped.push({ path, reason: unreadable(error) });
        return;
      }
      const inside = new Set(ancestors).add(real);
      for (const entry of entries) {
        if (entry.startsWith('.') || entry === 'node_modules') continue;
        visit(join(path, entry), inside);
      }
    } else if (stats.isFile()) {
      files.push(resolve(path));
    }
  };
  for (const path of paths) visit(path, new Set());
  return { files: [...new Set(files)], missing, skipped };
}

/** A progress bar on a terminal; plain lines otherwise (CI logs, pipes). */
function createOutput(total: number) {
  const interactive = Boolean(process.stderr.isTTY);
  const bars = interactive
    ? new MultiBar(
        {
          format: ' {bar} {value}/{total} files | {file} {stage}',
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        },
        Presets.shades_classic,
      )
    : undefined;
  const bar = bars?.create(total, 0, { file: '', stage: '' });
  return {
    progress(file: string, event: IngestionProgress) {
      const detail = event.total > 1 ? ` ${event.done}/${event.total}` : '';
      bar?.update({ file, stage: `${event.stage}${detail}` });
    },
    done(line: string) {
      bar?.increment();
      if (bars) bars.log(`${line}\n`);
      else console.log(line);
    },
    stop() {
      // Flush outcome lines still buffered for the next redraw before the bar is cleared.
      bars?.update();
      bars?.stop();
    },
  };
}

async function main(): Promise<void> {
  const command = parseCommandLine();
  // Ingestion never talks to Slack, so the Slack credentials the app needs are not required here; placeholders
  // satisfy the shared schema and every other setting is validated exactly as the app validates it.
  const loaded = loadConfiguration({
    SLACK_BOT_TOKEN: 'xoxb-not-used-by-ingest',
    SLACK_SIGNING_SECRET: 'not-used-by-ingest',
    LOG_LEVEL: 'error',
    ...process.env,
  });
  if (!loaded.ok) {
    console.error('Cannot ingest. Fix these settings (see .env.example and the README):');
    for (const problem of loaded.problems) console.error(`  - ${problem}`);
    process.exit(2);
  }
  const configuration = loaded.configuration;
  const logger = createLogger({ level: configuration.logLevel, destination: pino.destination(2) });
  const appUrl = chooseAppUrl(command.appUrl, configuration);
  if (appUrl) {
    await ingestThroughApp(command, appUrl, configuration.adminApiToken as string);
    return;
  }

  let redis: RedisClient | undefined;
  const connectRedis = () => {
    if (!redis) {
      redis = createRedis(configuration, { logger });
    }
    return redis;
  };
  let index: VectorIndex;
  if (configuration.qdrant.url) {
    const client = new QdrantClient({
      url: configuration.qdrant.url,
      ...(configuration.qdrant.apiKey ? { apiKey: configuration.qdrant.apiKey } : {}),
      timeout: 30_000,
      checkCompatibility: false,
    });
    // Index versions in Redis, as the app keeps them, so answers cached before this ingestion are invalidated.
    index = new QdrantVectorIndex({
      client,
      collection: configuration.qdrant.collection,
      dimensions: configuration.openai.embeddingDimensions,
      versions: new RedisIndexVersionCounter(connectRedis(), configuration.redis.keyPrefix),
      logger,
    });
    console.error(`Indexing into Qdrant collection "${configuration.qdrant.collection}".`);
  } else {
    index = new EmbeddedVectorIndex({ directory: join(configuration.dataDir, 'index'), logger });
  }
  try {
    await index.ensureReady();
  } catch (error) {
    if (!(error instanceof IndexLockedError)) throw error;
    console.error(error.userMessage);
    process.exit(2);
  }

  let embedder: Embedder | undefined;
  let closeGateway = async () => {};
  const dependencies: Omit<IngestDocumentDependencies, 'onProgress'> = {
    index,
    callScope: {
      workspaceId: command.workspaceId,
      channelId: command.scope === 'workspace' ? 'ingest-cli' : command.scope.slice('channel:'.length),
      requestId: `ingest-${Date.now()}`,
    },
    logger,
    limits: { ...defaultIngestionLimits, maxUploadBytes: configuration.retrieval.maxUploadBytes },
  };
  if (!command.remove) {
    if (configuration.openai.apiKey) {
      const openai = new OpenAI({ apiKey: configuration.openai.apiKey, baseURL: configuration.openai.baseURL });
      const parts = createGateway(configuration, {
        openai,
        redis: connectRedis(),
        metrics: createMetricsRegistry(),
        logger,
      });
      embedder = parts.embedder;
      closeGateway = parts.close;
      dependencies.embedder = embedder;
      dependencies.embeddingCache = new RedisEmbeddingCache(connectRedis(), {
        keyPrefix: configuration.redis.keyPrefix,
      });
      console.error(`Embedding with ${embedder.model} (${embedder.dimensions} dimensions) through the gateway.`);
    } else {
      console.error('OPENAI_API_KEY is not set: indexing sparse-only (keyword search works; no dense vectors).');
    }
  }

  const { files, missing, skipped } = collectFiles(command.paths);
  let problems = missing.length;
  for (const path of missing) console.log(`missing   ${path}: no such file or directory`);
  for (const { path, reason } of skipped) console.log(`skipped   ${path}: ${reason}`);
  const output = createOutput(files.length);
  const counts: Record<string, number> = {
    ...(missing.length > 0 ? { missing: missing.length } : {}),
    ...(skipped.length > 0 ? { skipped: skipped.length } : {}),
  };
  for (const file of files) {
    const shown = relative(process.cwd(), file) || file;
    try {
      if (command.remove) {
        const result = await removeDocument({ workspaceId: command.workspaceId, source: file }, dependencies);
        counts[result.kind] = (counts[result.kind] ?? 0) + 1;
        output.done(`${result.kind.padEnd(9)} ${shown}`);
        continue;
      }
      checkSize(basename(file), statSync(file).size, { ...defaultIngestionLimits, ...dependencies.limits });
      const result = await ingestDocument(
        {
          workspaceId: command.workspaceId,
          scope: command.scope,
          source: file,
          fileName: basename(file),
          bytes: new Uint8Array(readFileSync(file)),
        },
        { ...dependencies, onProgress: (event) => output.progress(basename(file), event) },
      );
      counts[result.kind] = (counts[result.kind] ?? 0) + 1;
      const chunks = `${result.chunkCount} ${result.chunkCount === 1 ? 'chunk' : 'chunks'}`;
      const vectors = dependencies.embedder
        ? `${result.embeddedChunks} embedded, ${result.cachedChunks} from cache`
        : 'sparse-only';
      const detail = result.kind === 'unchanged' ? chunks : `${chunks}, ${vectors}`;
      output.done(`${result.kind.padEnd(9)} ${shown} (${detail})`);
    } catch (error) {
      problems += 1;
      const reason = rejectionReason(error);
      const kind = reason ? 'rejected' : 'failed';
      counts[kind] = (counts[kind] ?? 0) + 1;
      const message = isDeskhandError(error) ? error.userMessage : (error as Error).message;
      output.done(`${kind.padEnd(9)} ${shown}: ${reason ? `[${reason}] ` : ''}${message}`);
      if (!reason) logger.error({ err: error, file }, 'ingestion failed');
    }
  }
  output.stop();
  const summary = Object.entries(counts)
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
  console.log(`${files.length} files: ${summary || 'nothing to do'}`);
  await index.close();
  await closeGateway();
  await redis?.quit();
  process.exitCode = problems > 0 ? 1 : 0;
}

/**
 * The running app to send the files to: `--app-url` (ADMIN_API_TOKEN required), or the local app on PORT when a
 * live process holds the embedded index and ADMIN_API_TOKEN is set; undefined to open the index here. Against a
 * locked index without a token the run is refused (exit 2) with what to do.
 */
function chooseAppUrl(given: string | undefined, configuration: Configuration): string | undefined {
  const token = configuration.adminApiToken;
  if (given !== undefined) {
    if (!token) fail("--app-url needs ADMIN_API_TOKEN set in the environment to the running app's token.");
    console.error(`Sending the files to the running app at ${given}.`);
    return given;
  }
  if (configuration.qdrant.url) return undefined;
  const directory = join(configuration.dataDir, 'index');
  const holder = readIndexLock(directory);
  if (!holder?.live) return undefined;
  if (!token) {
    console.error(
      `The embedded index in ${directory} is held by a running process (pid ${holder.pid}, a running Deskhand?); ` +
        'it takes one writer, so nothing was ingested. Either hand the files to the app — set ADMIN_API_TOKEN to ' +
        "the app's token and add --app-url http://host:PORT — or stop the app first.",
    );
    process.exit(2);
  }
  const url = `http://127.0.0.1:${configuration.port}`;
  console.error(`The embedded index is held by a running app (pid ${holder.pid}): sending the files to it at ${url}.`);
  return url;
}

async function ingestThroughApp(
  command: ReturnType<typeof parseCommandLine>,
  appUrl: string,
  token: string,
): Promise<void> {
  const { files, missing, skipped } = collectFiles(command.paths);
  let problems = missing.length;
  for (const path of missing) console.log(`missing   ${path}: no such file or directory`);
  for (const { path, reason } of skipped) console.log(`skipped   ${path}: ${reason}`);
  const { workspaceId, scope, remove, maxWaitMs } = command;
  const sent = await ingestFilesRemotely(
    files.map((file) => ({ file, shown: relative(process.cwd(), file) || file })),
    { appUrl, token, workspaceId, scope, remove, maxWaitMs },
    (line) => console.log(line),
  );
  problems += sent.problems;
  const counts = {
    ...(missing.length > 0 ? { missing: missing.length } : {}),
    ...(skipped.length > 0 ? { skipped: skipped.length } : {}),
    ...sent.counts,
  };
  const summary = Object.entries(counts)
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
  console.log(`${files.length} files: ${summary || 'nothing to do'}`);
  process.exitCode = problems > 0 ? 1 : 0;
}

await main();
