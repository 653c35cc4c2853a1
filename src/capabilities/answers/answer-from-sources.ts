/**
 * The answer itself, once retrieval found passages: one chat call at temperature 0 with the sources as
 * numbered, escaped, untrusted data, cached per document-access scope and index version (`answerCacheScope`;
 * why exact and never semantic: see `answer-question.ts`). The text returned carries only citations of sources
 * actually given; a refused budget, an unusable model, a content-filter stop or an empty answer become the
 * quoted passages instead. Streaming receives only sanitised, stable text.
 */
import { DeskhandError, toDeskhandError } from '../../errors.ts';
import type { ChatResult } from '../../ports/language-model.ts';
import type { AccessScope } from '../../ports/vector-index.ts';
import {
  type AnswerOutcome,
  answersWithPassages,
  degradedOutcome,
  failedOutcome,
  type OutcomeBase,
} from './answer-outcome.ts';
import { answerPromptVersion, buildAnswerMessages } from './answer-prompt.ts';
import type { AnswerQuestionDependencies, AnswerQuestionInput, AnswerTiming } from './answer-question-input.ts';
import type { RetrievedContext } from './answer-source.ts';
import { addChatUsage } from './answer-usage.ts';
import { processAnswerText } from './citations.ts';
import { createStreamRelay } from './stream-relay.ts';

/**
 * The cache scope of an answer: exact document-access scope plus index version (see `answer-question.ts`). A
 * channel-only scope (a Slack Connect channel) has its own entries, so an answer cached from workspace-wide
 * documents before the channel was shared is never replayed in it.
 */
export function answerCacheScope(access: AccessScope, indexVersion: number): string {
  const documents = access.channelOnly === true ? ':channel-only' : '';
  return `answers:${access.workspaceId}:${access.channelId}${documents}:v${indexVersion}`;
}

/**
 * Answers `common.standaloneQuestion` from `context.passages` (at least one). Chat usage is added to
 * `common.usage`; dropped citations are reported to `onWarning`.
 */
export async function answerFromSources(
  common: OutcomeBase,
  context: RetrievedContext,
  request: { input: AnswerQuestionInput; dependencies: AnswerQuestionDependencies; timing: AnswerTiming },
): Promise<AnswerOutcome> {
  const { input, dependencies, timing } = request;
  const standalone = common.standaloneQuestion;
  const sources = context.passages;
  const relay = input.streaming ? createStreamRelay(sources, input.streaming.onTextDelta) : undefined;
  let result: ChatResult;
  try {
    result = await dependencies.gateway.chat(
      {
        purpose: 'answer',
        promptVersion: answerPromptVersion,
        messages: buildAnswerMessages(standalone, sources),
        temperature: 0,
        maxOutputTokens: dependencies.maxOutputTokens ?? 700,
        cache: { enabled: true },
        ...(dependencies.model ? { model: dependencies.model } : {}),
        ...(relay ? { onTextDelta: relay.push } : {}),
        ...timing,
      },
      { ...input.callScope, cacheScope: answerCacheScope(input.access, context.indexVersion) },
    );
  } catch (error) {
    const coded = toDeskhandError(error);
    if (answersWithPassages(coded.code)) return degradedOutcome(common, coded, sources);
    return failedOutcome(common, coded, dependencies.onError);
  }
  addChatUsage(common.usage, result);
  if (result.finishReason === 'content_filter') {
    return degradedOutcome(
      common,
      new DeskhandError('upstream_invalid_response', 'answer stopped by the content filter', {
        userMessage: 'The model provider refused to answer this, so here are the most relevant passages instead.',
      }),
      sources,
    );
  }

  const processed = processAnswerText(result.text, sources);
  if (!processed.markdown) {
    return degradedOutcome(
      common,
      new DeskhandError('upstream_invalid_response', 'the model returned an empty answer', {
        userMessage: 'The model returned an empty answer, so here are the most relevant passages instead.',
      }),
      sources,
    );
  }
  if (processed.invalidCitations.length > 0) {
    dependencies.onWarning?.('answer cited sources that were not given; citations dropped', {
      answerId: common.answerId,
      invalid: processed.invalidCitations,
      sourceCount: sources.length,
    });
  }
  relay?.finish(processed.markdown);
  return {
    ...common,
    kind: 'answered',
    markdown: processed.markdown,
    mrkdwn: processed.mrkdwn,
    cited: processed.cited,
    sources,
    grounded: processed.cited.length > 0,
    truncated: result.finishReason === 'length',
    fromCache: result.fromCache,
    model: result.model,
    indexVersion: context.indexVersion,
  };
}
