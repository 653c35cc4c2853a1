/**
 * `npm run demo` (also `npm run dev:fakes`): Deskhand with no Slack or OpenAI account. Starts a fake Slack, a
 * fake OpenAI that answers like a plausible model (`scripts/demo/demo-model.ts`), ingests the example handbook
 * (`examples/handbook`: Markdown, PDF and DOCX) into #demo, then runs the real app (`node src/main.ts`) against
 * them and shows what a Slack user would see. Type messages, slash commands, button numbers.
 *
 *   npm run demo                                   interactive
 *   npm run demo -- --no-model                     the app without OPENAI_API_KEY
 *   npm run demo -- --script examples/demo-session.txt   run a written session; exit 1 naming a failed step
 *   npm run demo -- --verbose                      the app's logs on stderr (otherwise in a temporary log file)
 *   --wait SECONDS                                 how long an expectation may wait for the app (default 10)
 *
 * Each run uses its own Redis key prefix and a fresh temporary DATA_DIR (unless DATA_DIR is set), both removed
 * at the end. Needs Redis on 127.0.0.1:6379 (or REDIS_URL).
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type DemoEnvironment, startDemoEnvironment } from './demo/environment.ts';
import { readScript, runScript, type ScriptStep } from './demo/script.ts';
import { DemoSession, inputHelp } from './demo/session.ts';

const usage = `Usage: npm run demo [-- --no-model] [--script FILE [--wait SECONDS]] [--verbose]`;

let parsed: ReturnType<typeof parseArgs<{ options: typeof options }>>;
const options = {
  script: { type: 'string' },
  'no-model': { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  wait: { type: 'string', default: '10' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
try {
  parsed = parseArgs({ options });
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(`${usage}\n\n${inputHelp.join('\n')}`);
  process.exit(0);
}
const model = !parsed.values['no-model'];
const scriptPath = parsed.values.script;
let steps: ScriptStep[] | undefined;
if (scriptPath) {
  try {
    steps = readScript(scriptPath, model ? 'model' : 'no-model');
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}

const print = (line: string) => process.stdout.write(`${line}\n`);
let env: DemoEnvironment;
try {
  env = await startDemoEnvironment({ model, verbose: parsed.values.verbose, say: print });
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}

let stopping = false;
async function finish(code: number): Promise<never> {
  stopping = true;
  await env.stop();
  process.exit(code);
}
env.app.once('exit', (code) => {
  if (stopping) return;
  console.error(`Deskhand exited unexpectedly (code ${code}).\n${env.logTail()}`);
  void finish(1);
});
process.once('SIGINT', () => void finish(130));
process.once('SIGTERM', () => void finish(143));
process.once('SIGHUP', () => void finish(129));
// A bug in the demo itself still stops the app and removes this run's data and Redis keys.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.once(event, (error) => {
    console.error(error);
    void finish(1);
  });
}

print(
  `Deskhand is running against a fake Slack and ${model ? 'a fake model (scripts/demo/demo-model.ts)' : 'no model (OPENAI_API_KEY unset)'}. You are @you in #demo; you may approve agent actions.`,
);

const session = new DemoSession(env);
if (steps && scriptPath) {
  print(`Running ${scriptPath}${model ? '' : ' (no model)'}.\n`);
  const expectWaitMs = Math.max(0, Number(parsed.values.wait) || 0) * 1000;
  const result = await runScript(session, steps, print, { fileName: scriptPath, expectWaitMs });
  for (const line of await session.settle({ firstCallMs: 0 })) print(line);
  if (result.ok) {
    print(`\n✓ ${scriptPath}: all ${result.steps} steps passed.`);
    await finish(0);
  }
  console.error(`\n✗ ${result.failure}`);
  if (parsed.values.verbose === false) console.error(`Last app log lines:\n${env.logTail(10)}`);
  await finish(1);
}

print(`${inputHelp.join('\n')}\n`);
// On a terminal: a prompt, and the typed line is not echoed again. Piped input (a file, a heredoc): no prompt,
// every line echoed, so the output reads as a transcript.
const interactive = Boolean(process.stdin.isTTY);
const terminal = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
let busy = false;
let closed = false;
terminal.once('close', () => {
  closed = true;
});
// On a terminal readline takes Ctrl-C itself; stop everything as the process signal would.
terminal.on('SIGINT', () => void finish(130));
const prompt = (preserveCursor = false) => {
  if (interactive && !closed) terminal.prompt(preserveCursor);
};
// Whatever arrives between inputs (a slow agent step, a paced edit) is shown as it comes.
const background = setInterval(() => {
  if (busy) return;
  const lines = session.transcript.drain();
  if (lines.length === 0) return;
  process.stdout.write(`${interactive ? '\r' : ''}${lines.join('\n')}\n`);
  prompt(true);
}, 300);
terminal.setPrompt('you › ');
prompt();
for await (const raw of terminal) {
  const line = raw.trim();
  if (/^(quit|exit)$/i.test(line)) break;
  if (/^(help|\?)$/i.test(line)) print(inputHelp.join('\n'));
  else if (line !== '') {
    busy = true;
    try {
      const lines = await session.input(line);
      // The echo only says more than the typed line when it is a click ("clicked [3] File").
      for (const shown of lines) if (!(interactive && shown === `you › ${line}`)) print(shown);
    } catch (error) {
      print(`  (could not send that: ${(error as Error).message})`);
    } finally {
      busy = false;
    }
  }
  prompt();
}
clearInterval(background);
for (const line of await session.settle({ firstCallMs: 0 })) print(line);
await finish(0);
