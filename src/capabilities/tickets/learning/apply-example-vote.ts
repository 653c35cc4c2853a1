/**
 * Rule mode with learned examples: the nearest examples' weighted vote decides the category and the urgency; the
 * rules keep everything else (ids, emails, names, dates, frequency, language).
 *
 * Guarantees: the vote only sets a category the workspace has today; in a workspace with few examples only close
 * neighbours vote (`fewExamplesPolicy`); when it abstains (no neighbours, or no label
 * with enough agreement) the rules' value stays; urgency the message itself justifies (the rules found words such
 * as "stolen" or "urgent", or a deadline within three days) is never lowered by the vote, only raised.
 */
import { questionsFor } from '../rule-based-extractor.ts';
import { type Ticket, type UrgencyLevel, urgencyLevels } from '../ticket-schema.ts';
import {
  defaultVoteParameters,
  type ExampleVote,
  type VoteParameters,
  voteOnExamples,
  voteParametersFor,
} from './example-vote.ts';
import type { IndexedExample, Neighbour } from './nearest-example-index.ts';

export interface VotedTicket {
  ticket: Ticket;
  vote: ExampleVote;
  /** Which fields the vote changed. */
  changed: ('category' | 'urgency')[];
}

function isUrgency(value: string): value is UrgencyLevel {
  return (urgencyLevels as readonly string[]).includes(value);
}

/** `ruleTicket` with the category and urgency the neighbours agree on. */
export function applyExampleVote(
  ruleTicket: Ticket,
  nearest: { neighbours: readonly Neighbour<IndexedExample>[]; examples: number },
  categories: readonly string[],
  parameters: VoteParameters = defaultVoteParameters,
): VotedTicket {
  const allowed = new Set(categories);
  const usable = nearest.neighbours.filter(({ example }) => allowed.has(example.category));
  const vote = voteOnExamples(usable, voteParametersFor(nearest.examples, parameters));
  const changed: VotedTicket['changed'] = [];
  let ticket = ruleTicket;
  if (vote.category && vote.category.value !== ticket.category) {
    const category = vote.category.value;
    ticket = { ...ticket, category, questionsToAsk: questionsFor({ category, orderIds: ticket.orderIds }) };
    changed.push('category');
  }
  const voted = vote.urgency?.value;
  if (changed.length > 0 && !voted && ticket.urgencyReason === null) {
    // The rules' default urgency follows the category (questions and wishes are low).
    const urgency = ticket.category === 'question' || ticket.category === 'feature_request' ? 'low' : 'medium';
    if (urgency !== ticket.urgency) ticket = { ...ticket, urgency };
  }
  if (voted && isUrgency(voted) && voted !== ticket.urgency) {
    const ruleHasEvidence = ticket.urgencyReason !== null;
    const higher = urgencyLevels.indexOf(voted) > urgencyLevels.indexOf(ticket.urgency);
    if (!ruleHasEvidence || higher) {
      ticket = { ...ticket, urgency: voted, urgencyReason: ruleHasEvidence ? ticket.urgencyReason : null };
      changed.push('urgency');
    }
  }
  return { ticket, vote, changed };
}
