/**
 * Streaming raw model text to Slack would show it before it is sanitised: a half-written `<!chan` or a
 * citation `[7]` of a source that does not exist would flash on screen. The relay buffers the raw stream and
 * emits only text that is already final: the raw text up to its last "stable" point (before a trailing partial
 * word, an unclosed `<`, `[` or backtick), sanitised and renumbered exactly like the final answer. Because
 * both steps work left to right, the processed prefix is a prefix of the final text in practice; when it is
 * not (an edge case such as a code span closing later), the relay stops emitting deltas and the caller
 * replaces the message with the final text.
 */
import type { AnswerSource } from './answer-source.ts';
import { processAnswerText } from './citations.ts';

export interface StreamRelay {
  /** Feed raw model text deltas (the gateway's `onTextDelta`). */
  push: (delta: string) => void;
  /** Emits whatever final text was not yet emitted, when it extends what was shown. */
  finish: (finalMarkdown: string) => void;
}

/** Index up to which `raw` can be processed without a construct being cut in half. */
export function stablePrefixLength(raw: string): number {
  let end = raw.length;
  const lastWhitespace = Math.max(raw.lastIndexOf(' '), raw.lastIndexOf('\n'), raw.lastIndexOf('\t'));
  end = lastWhitespace + 1;
  const tail = raw.slice(0, end);
  for (const [open, close] of [
    ['<', '>'],
    ['[', ']'],
    ['【', '】'],
    ['［', '］'],
    ['(', ')'],
  ] as const) {
    const lastOpen = tail.lastIndexOf(open);
    if (lastOpen >= 0 && tail.indexOf(close, lastOpen) < 0) end = Math.min(end, lastOpen);
  }
  const fences = tail.split('```').length - 1;
  if (fences % 2 === 1) end = Math.min(end, tail.lastIndexOf('```'));
  const lineStart = tail.lastIndexOf('\n') + 1;
  const line = tail.slice(lineStart).replace(/```/g, '');
  if ((line.split('`').length - 1) % 2 === 1) end = Math.min(end, lineStart + tail.slice(lineStart).lastIndexOf('`'));
  return Math.max(0, end);
}

/**
 * A relay that calls `onTextDelta(delta, textSoFar)` with sanitised, renumbered text as it becomes stable.
 * Processing cost is one pass over the text per delta, bounded by the answer's output limit.
 */
export function createStreamRelay(
  sources: readonly AnswerSource[],
  onTextDelta: (delta: string, textSoFar: string) => void,
): StreamRelay {
  let raw = '';
  let shown = '';
  let diverged = false;
  const emit = (text: string) => {
    if (diverged || text.length <= shown.length) return;
    if (!text.startsWith(shown)) {
      diverged = true;
      return;
    }
    const delta = text.slice(shown.length);
    shown = text;
    onTextDelta(delta, shown);
  };
  return {
    push(delta: string) {
      raw += delta;
      const stable = raw.slice(0, stablePrefixLength(raw));
      if (!stable.trim()) return;
      // Trailing whitespace is kept out so the next emission can extend the text without trimming.
      emit(processAnswerText(stable, sources).markdown);
    },
    finish(finalMarkdown: string) {
      emit(finalMarkdown);
    },
  };
}
