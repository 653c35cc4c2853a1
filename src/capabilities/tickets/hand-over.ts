/**
 * The "Get a human" button: hands an answer or an agent run over to the team, once per hand-over, whoever clicks
 * first and however many click at once.
 *
 * Guarantees:
 * - Content comes only from the stored record, looked up in the clicker's workspace; a click from another
 *   channel than the record's, an unknown or expired id, or a malformed value is refused with the reason.
 * - One compare-and-set claim (HandOverStore.claim) decides the one clicker who hands over; every other click is
 *   told, ephemerally, who handed it over and where it went (or that it is being handed over right now).
 * - The winner's ticket is made without a model (rules over the question) and goes to the workspace's sinks
 *   (triage channel and/or webhook) with the question, answer given, sources and thread link; with no sink it is
 *   posted in the thread as a ticket card for the team to file, and the thread is told so.
 * - A failed delivery gives the claim back and says so; a later click retries, and a sink that already has the
 *   ticket (same `DH-…` id) is not sent it again. The thread gets one note "handed over to the team by @x".
 */
import { toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CapabilityOutcome } from '../../ports/capability.ts';
import type { HandOverRecord } from '../../ports/hand-over.ts';
import type { Messenger } from '../../ports/messenger.ts';
import { escapeMrkdwn } from '../../slack-kit/mrkdwn.ts';
import { handOverDetails, handOverTicket } from './hand-over-card.ts';
import type { HandOverDestination, HandOverStore } from './hand-over-store.ts';
import type { TicketSink } from './sinks/ticket-sink.ts';
import { buildTicketCard } from './ticket-card.ts';
import type { Ticket } from './ticket-schema.ts';
import { type TicketStore, ticketIdFor } from './ticket-store.ts';

/** A click as the actions listener passes it (structurally `ActionRequest`). */
export interface HandOverClick {
  /** The hand-over id: untrusted, only a key inside the clicker's workspace. */
  value: string | undefined;
  workspaceId: string;
  userId: string;
  channelId: string | undefined;
  messageTs: string | undefined;
  requestId?: string;
}

export interface HandOverDependencies {
  handOvers: HandOverStore;
  /** Where the no-sink card's draft is kept (so the card's File / Edit / Discard work). */
  tickets: TicketStore;
  messenger: Pick<Messenger, 'post' | 'permalink'>;
  sinks: readonly TicketSink[];
  categories: readonly string[];
  teamLanguage: string;
  timeZone: string;
  logger?: Logger;
  now?: () => Date;
}

const sinkNames: Record<string, string> = { triage_channel: 'the triage channel', webhook: 'the help desk (webhook)' };

function reply(text: string): CapabilityOutcome {
  return { kind: 'reply', text, visibility: 'ephemeral' };
}

export async function handOver(click: HandOverClick, dependencies: HandOverDependencies): Promise<CapabilityOutcome> {
  const { handOvers, logger } = dependencies;
  const now = dependencies.now ?? (() => new Date());
  const log = logger?.child({ purpose: 'hand_over', workspaceId: click.workspaceId, requestId: click.requestId });
  const record = click.channelId ? await handOvers.get(click.workspaceId, click.value ?? '') : undefined;
  if (!record || record.channelId !== click.channelId) {
    log?.warn({ code: 'invalid_input', channelId: click.channelId }, 'hand-over refused: no such hand-over here');
    return reply(
      'I cannot hand this over: it has expired or does not belong to this conversation. Ask the question again, or use /ticket.',
    );
  }
  const claim = await handOvers.claim(click.workspaceId, record.id, click.userId, now());
  if (claim.kind === 'missing') return reply('I cannot hand this over any more: it has expired. Use /ticket instead.');
  if (claim.kind === 'taken') {
    log?.info({ handOverId: record.id, by: claim.by }, 'hand-over already claimed');
    return reply(alreadyHandedOver(claim.by, click.userId, claim.destination));
  }
  try {
    const destination = await deliver(record, click, dependencies, now());
    await handOvers.complete(click.workspaceId, record.id, click.userId, destination);
    log?.info({ handOverId: record.id, ticketId: destination.ticketId, by: click.userId, code: 'ok' }, 'handed over');
    await dependencies.messenger
      .post({
        channel: record.channelId,
        ...threadOf(record, click),
        text: `:raising_hand: Handed over to the team by <@${click.userId}>: ticket ${destination.ticketId}, ${destination.where}.`,
      })
      .catch((error: unknown) => log?.warn({ err: error }, 'hand-over note could not be posted'));
    return reply(`Handed over to the team: ticket ${destination.ticketId}, ${destination.where}.`);
  } catch (error) {
    const coded = toDeskhandError(error);
    await handOvers.release(click.workspaceId, record.id, click.userId).catch(() => undefined);
    log?.error({ err: error, code: coded.code, handOverId: record.id }, 'hand-over failed');
    return reply(
      `I could not hand this over: ${coded.userMessage} Click again to retry; a destination that already has it will not get it twice.`,
    );
  }
}

function threadOf(record: HandOverRecord, click: HandOverClick): { threadTs?: string } {
  const threadTs = record.threadTs ?? click.messageTs;
  return threadTs ? { threadTs } : {};
}

function alreadyHandedOver(by: string, clicker: string, destination: HandOverDestination | undefined): string {
  const who = by === clicker ? 'You' : `<@${by}>`;
  if (!destination) return `${who} started handing this over to the team a moment ago; it is being filed now.`;
  return `${who} already handed this over to the team: ticket ${escapeMrkdwn(destination.ticketId)}, ${destination.where}.`;
}

/** Files the ticket to the sinks, or posts its card in the thread when there is none; says where it went. */
async function deliver(
  record: HandOverRecord,
  click: HandOverClick,
  dependencies: HandOverDependencies,
  at: Date,
): Promise<HandOverDestination> {
  const { messenger, sinks, handOvers } = dependencies;
  const messageTs = click.messageTs ?? record.threadTs;
  const threadLink = messageTs
    ? await messenger.permalink(record.channelId, messageTs).catch(() => undefined)
    : undefined;
  const details = handOverDetails(record, threadLink);
  const ticket = handOverTicket(record, { ...dependencies, now: at });
  if (sinks.length === 0) return postCardInThread(record, click, ticket, dependencies, at);

  const ticketId = ticketIdFor(`hand-over:${record.workspaceId}:${record.id}`);
  const delivered = await handOvers.deliveries(record.workspaceId, record.id);
  for (const sink of sinks) {
    if (delivered[sink.name]) continue;
    const result = await sink.deliver({
      ticketId,
      workspaceId: record.workspaceId,
      ticket,
      source: {
        channelId: record.channelId,
        messageTs: messageTs ?? record.id,
        ...(threadLink ? { permalink: threadLink } : {}),
      },
      filedBy: click.userId,
      filedAt: at.toISOString(),
      extractedWithoutModel: true,
      handOver: details,
    });
    delivered[sink.name] = result;
    await handOvers.markDelivered(record.workspaceId, record.id, click.userId, sink.name, result);
  }
  return { ticketId, where: `sent to ${describeSinks(sinks, delivered)}` };
}

function describeSinks(
  sinks: readonly TicketSink[],
  delivered: Record<string, { link?: string; reference?: string }>,
): string {
  return sinks
    .map((sink) => {
      const name = sinkNames[sink.name] ?? sink.name;
      const result = delivered[sink.name];
      const reference = result?.reference ? ` as ${escapeMrkdwn(result.reference)}` : '';
      return result?.link ? `<${result.link}|${name}>${reference}` : `${name}${reference}`;
    })
    .join(' and ');
}

/** No sink configured: the prefilled card goes in the thread (a stored draft, so File / Edit / Discard work). */
async function postCardInThread(
  record: HandOverRecord,
  click: HandOverClick,
  ticket: Ticket,
  dependencies: HandOverDependencies,
  at: Date,
): Promise<HandOverDestination> {
  const threadTs = record.threadTs ?? click.messageTs;
  const draftId = ticketIdFor(`hand-over:${record.workspaceId}:${record.id}`);
  const draft = {
    id: draftId,
    workspaceId: record.workspaceId,
    channelId: record.channelId,
    messageTs: click.messageTs ?? record.threadTs ?? record.id,
    requestedBy: click.userId,
    createdAt: at.toISOString(),
    ticket,
    flags: [],
    mode: 'rules' as const,
    ...(threadTs ? { threadTs } : {}),
  };
  // A retry after a failed post finds the draft already there: it posts the same card again, nothing else.
  await dependencies.tickets.create(draft);
  const card = buildTicketCard({ draftId, ticket, flags: [], mode: 'rules' });
  const posted = await dependencies.messenger.post({
    channel: record.channelId,
    text: card.text,
    blocks: card.blocks,
    ...(threadTs ? { threadTs } : {}),
  });
  await dependencies.tickets
    .update(record.workspaceId, draftId, (content) => ({
      ...content,
      card: { channel: posted.channel, ts: posted.ts },
    }))
    .catch(() => undefined);
  return {
    ticketId: draftId,
    where: 'posted in this thread as a ticket card for the team to file (no ticket destination is configured)',
  };
}
