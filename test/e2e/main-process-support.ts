/**
 * Runs the real entry point (`node src/main.ts`) as a child process for end-to-end tests: a free port, the
 * process with only the environment given (plus PATH), its combined output, readiness and exit.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../..', import.meta.url);

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface MainProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string;
}

export function startMain(environment: Record<string, string>): MainProcess {
  let output = '';
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...environment },
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

/** Polls `GET /readyz` until it answers 200; fails with the process output otherwise. */
export async function waitUntilReady(port: number, main: MainProcess, timeoutMs = 30_000): Promise<void> {
  let ready = 0;
  const deadline = Date.now() + timeoutMs;
  while (ready !== 200 && Date.now() < deadline) {
    await sleep(100);
    ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
  }
  assert.equal(ready, 200, main.output());
}

/** Resolves with the exit code (null when killed by a signal) once the process has ended. */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** The environment that points `node src/main.ts` at the fake Slack and OpenAI servers and a test key prefix. */
export function fakesEnvironment(options: {
  port: number;
  slack: { token: string; url: string };
  openai: { baseURL: string };
  signingSecret: string;
  keyPrefix: string;
  dataDir: string;
}): Record<string, string> {
  return {
    PORT: String(options.port),
    SLACK_BOT_TOKEN: options.slack.token,
    SLACK_SIGNING_SECRET: options.signingSecret,
    SLACK_API_URL: options.slack.url,
    OPENAI_API_KEY: 'test-key',
    OPENAI_BASE_URL: options.openai.baseURL,
    REDIS_KEY_PREFIX: options.keyPrefix,
    DATA_DIR: options.dataDir,
    LOG_LEVEL: 'info',
  };
}
