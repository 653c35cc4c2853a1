/**
 * Demo scripts: a session written down, run without a terminal (`npm run demo -- --script FILE`).
 *
 *   # a comment                 blank lines and comments are ignored
 *   > /ask how long do refunds take?      an input, exactly as typed in the interactive demo
 *   expect: Refunds and returns           what was shown since the last input must contain this text…
 *   expect: /\[1\] .*refunds/i            …or match this regular expression
 *   click: File                           the same as "> click File"
 *   model: > /agent …                     a step only run with the (fake) model
 *   no-model: expect: needs a model       a step only run with --no-model
 *
 * An expectation that is not met at once keeps watching what the app shows for up to `expectWaitMs`; when it
 * is still not met the run stops and names the step (file line, the expectation and the input it followed).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoSession } from './session.ts';

export type ScriptStep =
  | { kind: 'input'; line: number; text: string }
  | { kind: 'expect'; line: number; source: string; matcher: RegExp | string };

/** Parses a script for one mode; throws with the line number on a line it does not understand. */
export function parseScript(text: string, mode: 'model' | 'no-model', fileName = 'script'): ScriptStep[] {
  const steps: ScriptStep[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    let content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    const conditional = /^(model|no-model):\s*(.*)$/.exec(content);
    if (conditional) {
      if (conditional[1] !== mode) return;
      content = conditional[2] ?? '';
    }
    if (content.startsWith('>')) {
      steps.push({ kind: 'input', line, text: content.slice(1).trim() });
    } else if (/^click:/i.test(content)) {
      steps.push({ kind: 'input', line, text: `click ${content.slice('click:'.length).trim()}` });
    } else if (/^submit$/i.test(content)) {
      steps.push({ kind: 'input', line, text: 'submit' });
    } else if (/^expect:/i.test(content)) {
      const source = content.slice('expect:'.length).trim();
      const regex = /^\/(.+)\/([a-z]*)$/.exec(source);
      let matcher: RegExp | string = source;
      if (regex) {
        try {
          matcher = new RegExp(regex[1] ?? '', regex[2]);
        } catch (error) {
          throw new Error(`${fileName}:${line}: invalid regular expression ${source}: ${(error as Error).message}`);
        }
      }
      steps.push({ kind: 'expect', line, source, matcher });
    } else {
      throw new Error(`${fileName}:${line}: expected "> input", "expect: …", "click: …" or "submit", got: ${content}`);
    }
  });
  if (!steps.some((step) => step.kind === 'input')) throw new Error(`${fileName}: the script has no input step`);
  return steps;
}

export function readScript(path: string, mode: 'model' | 'no-model'): ScriptStep[] {
  return parseScript(readFileSync(path, 'utf8'), mode, path);
}

function matches(matcher: RegExp | string, shown: string): boolean {
  return typeof matcher === 'string' ? shown.includes(matcher) : matcher.test(shown);
}

export interface ScriptResult {
  ok: boolean;
  /** Why the run stopped, naming the step, when it failed. */
  failure?: string;
  steps: number;
}

/** Runs the steps in order, printing the transcript; stops at the first expectation that is not shown. */
export async function runScript(
  session: DemoSession,
  steps: ScriptStep[],
  print: (line: string) => void,
  options: { fileName?: string; expectWaitMs?: number } = {},
): Promise<ScriptResult> {
  let shownSinceInput = '';
  let lastInput: ScriptStep | undefined;
  for (const [index, step] of steps.entries()) {
    if (step.kind === 'input') {
      if (index > 0) print('');
      const lines = await session.input(step.text);
      for (const line of lines) print(line);
      shownSinceInput = lines.join('\n');
      lastInput = step;
      continue;
    }
    const deadline = Date.now() + (options.expectWaitMs ?? 10_000);
    while (!matches(step.matcher, shownSinceInput) && Date.now() < deadline) {
      await sleep(200);
      const more = session.transcript.drain();
      for (const line of more) print(line);
      if (more.length > 0) shownSinceInput += `\n${more.join('\n')}`;
    }
    if (!matches(step.matcher, shownSinceInput)) {
      const after = lastInput?.kind === 'input' ? ` after "> ${lastInput.text}" (line ${lastInput.line})` : '';
      const failure = `step ${index + 1} (${options.fileName ?? 'script'}:${step.line}) failed: expect: ${step.source} — not shown${after}`;
      return { ok: false, failure, steps: index + 1 };
    }
    print(`  ✓ expect: ${step.source}`);
  }
  return { ok: true, steps: steps.length };
}
