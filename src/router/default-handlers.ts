/**
 * Handlers for routes whose capability has not landed: they answer "not available yet" — a real outcome with
 * its own code — so the router, its replies and its metrics are exercised end to end from day one.
 */
import { DeskhandError } from '../errors.ts';
import type { CapabilityHandler, CapabilityHandlers, Route } from '../ports/capability.ts';
import { type HelpOptions, helpMessage } from '../slack-kit/help-message.ts';

const capabilityNames: Record<Route, string> = {
  ticket: 'Ticket creation',
  question: 'Answering questions from documents',
  task: 'The agent',
  help: 'Help',
  budget: 'Budget reporting',
  docs: 'Document management',
};

/** A handler that ends every request with `not_available_yet`. */
export function notAvailableYet(route: Route): CapabilityHandler {
  return async () => {
    throw new DeskhandError('not_available_yet', `${route} capability not installed`, {
      userMessage: `${capabilityNames[route]} is not available yet.`,
    });
  };
}

/** The help capability: every command with an example, and what works without a model when none is configured. */
export function createHelpHandler(options: HelpOptions = {}): CapabilityHandler {
  return async () => ({ kind: 'reply', ...helpMessage(options) });
}

/** Help with a model configured (the default of `completeHandlers`). */
export const helpHandler: CapabilityHandler = createHelpHandler();

/** Every route's handler: the given ones, help, and "not available yet" for the rest. */
export function completeHandlers(given: Partial<CapabilityHandlers>): CapabilityHandlers {
  return {
    ticket: given.ticket ?? notAvailableYet('ticket'),
    question: given.question ?? notAvailableYet('question'),
    task: given.task ?? notAvailableYet('task'),
    help: given.help ?? helpHandler,
    budget: given.budget ?? notAvailableYet('budget'),
    docs: given.docs ?? notAvailableYet('docs'),
  };
}
