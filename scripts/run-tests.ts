/**
 * Test entry point (`npm test`). Runs every `*.test.ts` under `test/` (or the paths given) with Node's
 * built-in runner and fails when no test ran: a green run that executed nothing proves nothing.
 * Usage: `npm test [-- <file-or-directory>…]`.
 */
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

function collect(path: string, into: string[]): void {
  const stats = statSync(path);
  if (stats.isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      collect(join(path, entry), into);
    }
  } else if (path.endsWith('.test.ts')) {
    into.push(resolve(path));
  }
}

const roots = process.argv.slice(2);
const files: string[] = [];
for (const root of roots.length > 0 ? roots : ['test']) collect(root, files);

let passed = 0;
let failed = 0;
let skipped = 0;
const stream = run({
  files,
  concurrency: Math.max(1, availableParallelism()),
  timeout: 120_000,
});
stream.on('test:pass', (event) => {
  if (event.details.type === 'suite') return;
  if (event.skip || event.todo) skipped += 1;
  else passed += 1;
});
stream.on('test:fail', (event) => {
  if (event.details.type === 'suite') return;
  failed += 1;
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  if (passed === 0) {
    process.stderr.write(`No test ran (${files.length} test files found): failing on purpose.\n`);
    process.exitCode = 1;
  } else if (failed > 0) {
    process.exitCode = 1;
  }
});
