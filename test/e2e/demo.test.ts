/**
 * The demo is the first thing a new user runs, so its written session must keep passing: `npm run demo --
 * --script examples/demo-session.txt` with the fake model and with `--no-model` (each run starts its own fakes,
 * app and Redis key prefix), and a script whose expectation is never shown must fail naming that step.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/demo.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

// The runs are independent (own fakes, port, DATA_DIR and Redis key prefix) and spend much of their time waiting
// for the app to settle, so two run side by side.
describe('npm run demo -- --script', { concurrency: 2 }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'deskhand-demo-test-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('plays examples/demo-session.txt with the fake model: a cited answer, a filed ticket, an approved agent run, the budget', async () => {
    const run = await runDemo(['--script', 'examples/demo-session.txt']);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\[1\] Refunds and returns/);
    assert.match(run.stdout, /clicked \[\d+\] Approve/);
    assert.match(run.stdout, /all \d+ steps passed/);
  });

  it('plays the same session without a model (--no-model)', async () => {
    const run = await runDemo(['--script', 'examples/demo-session.txt', '--no-model']);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /no model/);
    assert.match(run.stdout, /all \d+ steps passed/);
  });

  it('exits non-zero and names the step when an expectation is not shown', async () => {
    const script = join(scratch, 'failing.txt');
    writeFileSync(
      script,
      '# never shown on purpose\n> /budget\nexpect: Model budget\nexpect: a text Deskhand never says\n',
    );
    const run = await runDemo(['--script', script, '--no-model', '--wait', '1']);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /step 3 \(.*failing\.txt:4\) failed: expect: a text Deskhand never says/);
    assert.match(run.stderr, /after "> \/budget" \(line 2\)/);
  });
});
