/**
 * Deskhand without a language model (`OPENAI_API_KEY` unset). Guarantees:
 * - the gateway built here never opens a connection: every call it receives is refused with a `configuration`
 *   error, counted in `deskhand_model_calls_refused_total{reason="no_model",purpose}` and logged. Capabilities
 *   are wired so that they do not call it at all (rules, extractive answers); the counter is the proof;
 * - `isNoModelGateway` lets the router skip the classification call instead of trying it;
 * - the messages that say how to configure a model are written once, here.
 */
import { DeskhandError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { counter, type Registry } from '../observability/metrics.ts';
import type { LanguageModelGateway } from '../ports/language-model.ts';

/** How an admin gives Deskhand a model: a hosted provider, or a local OpenAI-compatible server. */
export const modelSetupHint =
  'An admin can set `OPENAI_API_KEY`, or, for a local OpenAI-compatible server (Ollama, vLLM, llama.cpp), `OPENAI_BASE_URL` plus any placeholder `OPENAI_API_KEY`.';

/** Shown where something needs a model and none is configured. */
export const noModelUserMessage = `No language model is configured. ${modelSetupHint}`;

const noModelGateways = new WeakSet<LanguageModelGateway>();

/** True for the gateway of `createNoModelGateway`: no model call can succeed, so none should be tried. */
export function isNoModelGateway(gateway: LanguageModelGateway): boolean {
  return noModelGateways.has(gateway);
}

/** The gateway installed when no model is configured (see the module comment). */
export function createNoModelGateway(dependencies: { logger: Logger; registry: Registry }): LanguageModelGateway {
  const refused = counter(
    dependencies.registry,
    'deskhand_model_calls_refused_total',
    'Model calls refused before reaching any provider, by reason and purpose',
    ['reason', 'purpose'],
  );
  const refuse = (purpose: string): never => {
    refused.inc({ reason: 'no_model', purpose });
    dependencies.logger.warn({ code: 'configuration', purpose }, 'model call refused: no language model is configured');
    throw new DeskhandError('configuration', `no language model configured (${purpose} call refused)`, {
      userMessage: noModelUserMessage,
    });
  };
  const gateway: LanguageModelGateway = {
    chat: async (request) => refuse(request.purpose),
    structured: async (request) => refuse(request.purpose),
    embed: async (_texts, _scope, options) => refuse(options?.purpose ?? 'embedding'),
    countChatTokens: () => 0,
  };
  noModelGateways.add(gateway);
  return gateway;
}
