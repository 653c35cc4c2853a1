/**
 * fileTicket: the File button. Sends a draft to every configured sink and marks it filed, such that one
 * source message yields at most one filed ticket and each sink receives it at most once, whatever the double
 * clicks, redelivered clicks (Slack retries, replays within 5 minutes) or second triggers on the same message.
 *
 * Order of guarantees: (1) a lease per draft keeps concurrent clicks from delivering concurrently; (2) the
 * source claim (compare-and-set) lets only one draft per message file; (3) a delivery record per sink is
 * written after each success and checked before each attempt; (4) the draft turns `filed` only when every
 * sink has the ticket. A crash between steps leaves a lease that expires; the next click resumes where the
 * last one stopped, without repeating a delivery that was recorded.
 */
import { type OutcomeCode, toDeskhandError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { TicketDelivery, TicketSink } from './sinks/ticket-sink.ts';
import type { SinkDeliveryRecord, StoredTicketDraft, TicketStore } from './ticket-store.ts';

export interface FileTicketInput {
  workspaceId: string;
  draftId: string;
  /** Who clicked File. */
  userId: string;
  /** Permalink of the source message, passed to the sinks. */
  sourcePermalink?: string;
}

export interface FileTicketDependencies {
  store: TicketStore;
  sinks: readonly TicketSink[];
  logger?: Logger;
  now?: () => Date;
  /** Longer than the slowest sink's worst case (webhook: attempts × timeout + backoff). Default 180 s. */
  leaseMs?: number;
}

export type FileTicketOutcome =
  | { kind: 'filed'; draft: StoredTicketDraft; reference: string; links: string[]; alreadyFiled: boolean }
  | { kind: 'in_progress'; message: string }
  | { kind: 'conflict'; holderDraftId: string; holderReference?: string; message: string }
  | { kind: 'not_found'; message: string }
  | { kind: 'discarded'; message: string }
  | { kind: 'no_sinks'; message: string }
  | {
      kind: 'partially_failed';
      delivered: string[];
      failed: { sink: string; code: OutcomeCode; message: string }[];
      message: string;
    };

function referenceOf(draft: StoredTicketDraft, deliveries: Record<string, SinkDeliveryRecord>): string {
  return Object.values(deliveries).find((record) => record.reference)?.reference ?? draft.id;
}

function filedOutcome(draft: StoredTicketDraft, alreadyFiled: boolean): FileTicketOutcome {
  const deliveries = draft.filed?.deliveries ?? {};
  return {
    kind: 'filed',
    draft,
    reference: draft.filed?.reference ?? draft.id,
    links: Object.values(deliveries).flatMap((record) => (record.link ? [record.link] : [])),
    alreadyFiled,
  };
}

/** Files a draft. Every outcome is a value; the listener renders it (filed card, ephemeral message, …). */
export async function fileTicket(
  input: FileTicketInput,
  dependencies: FileTicketDependencies,
): Promise<FileTicketOutcome> {
  const { store, sinks, logger } = dependencies;
  const now = dependencies.now ?? (() => new Date());
  const log = logger?.child({ purpose: 'ticket_file', workspaceId: input.workspaceId, ticketId: input.draftId });

  if (sinks.length === 0) {
    return {
      kind: 'no_sinks',
      message: 'No ticket destination is configured. An admin must set TICKET_TRIAGE_CHANNEL_ID or TICKET_WEBHOOK_URL.',
    };
  }
  const before = await store.get(input.workspaceId, input.draftId);
  if (!before) return notFound();
  const settledBefore = settledOutcome(before);
  if (settledBefore) return settledBefore;

  const lease = await store.acquireFilingLease(input.workspaceId, input.draftId, dependencies.leaseMs ?? 180_000);
  if (!lease) return { kind: 'in_progress', message: 'This ticket is being filed right now.' };
  try {
    const draft = await store.get(input.workspaceId, input.draftId);
    if (!draft) return notFound();
    const settled = settledOutcome(draft);
    if (settled) return settled;

    const claim = await store.claimSource(draft);
    if (!claim.claimed) return await conflictOutcome(store, input.workspaceId, claim.holder, log);

    const filedAt = now().toISOString();
    const delivery = deliveryOf(draft, input, filedAt);
    const { deliveries, failed } = await deliverToSinks(delivery, input.workspaceId, draft.id, dependencies, log);
    if (failed.length > 0) {
      return {
        kind: 'partially_failed',
        delivered: Object.keys(deliveries),
        failed,
        message: `Not filed yet: ${failed.map((failure) => failure.message).join(' ')} Click File again to retry; destinations that already have it will not get it twice.`,
      };
    }
    const marked = await store.markFiled(input.workspaceId, draft.id, lease, {
      by: input.userId,
      at: filedAt,
      reference: referenceOf(draft, deliveries),
      deliveries,
    });
    if (!marked.ok) {
      // Only reachable if the lease expired mid-filing and another click finished first.
      const latest = await store.get(input.workspaceId, draft.id);
      if (latest?.status === 'filed') return filedOutcome(latest, true);
      return { kind: 'in_progress', message: 'This ticket is being filed right now.' };
    }
    log?.info({ reference: marked.draft.filed?.reference, filedBy: input.userId }, 'ticket filed');
    return filedOutcome(marked.draft, false);
  } finally {
    await store.releaseFilingLease(input.workspaceId, input.draftId, lease);
  }
}

function notFound(): FileTicketOutcome {
  return { kind: 'not_found', message: 'This ticket draft has expired or does not exist. Create the ticket again.' };
}

/** The outcome for a draft that is already filed or was discarded; undefined when it can be filed. */
function settledOutcome(draft: StoredTicketDraft): FileTicketOutcome | undefined {
  if (draft.status === 'filed') return filedOutcome(draft, true);
  if (draft.status === 'discarded')
    return { kind: 'discarded', message: 'This draft was discarded, so it cannot be filed.' };
  return undefined;
}

/** Another draft holds the source message: its reference when it is filed, else that it is being filed. */
async function conflictOutcome(
  store: TicketStore,
  workspaceId: string,
  holderDraftId: string,
  log: Logger | undefined,
): Promise<FileTicketOutcome> {
  const holder = await store.get(workspaceId, holderDraftId);
  const holderReference = holder?.status === 'filed' ? holder.filed?.reference : undefined;
  log?.info({ holder: holderDraftId }, 'ticket not filed: the source message already has a ticket');
  return {
    kind: 'conflict',
    holderDraftId,
    ...(holderReference ? { holderReference } : {}),
    message: holderReference
      ? `This message was already filed as ${holderReference}.`
      : 'Another ticket for this message is being filed.',
  };
}

/** What every sink receives for this draft. */
function deliveryOf(draft: StoredTicketDraft, input: FileTicketInput, filedAt: string): TicketDelivery {
  return {
    ticketId: draft.id,
    workspaceId: draft.workspaceId,
    ticket: draft.ticket,
    source: {
      channelId: draft.channelId,
      messageTs: draft.messageTs,
      ...(input.sourcePermalink ? { permalink: input.sourcePermalink } : {}),
    },
    filedBy: input.userId,
    filedAt,
    extractedWithoutModel: draft.mode === 'rules',
  };
}

/**
 * Delivers to each sink that has no delivery record yet and records each success as it happens, so a retry
 * never repeats one. Returns every record (earlier ones included) and the sinks that failed this time.
 */
async function deliverToSinks(
  delivery: TicketDelivery,
  workspaceId: string,
  draftId: string,
  dependencies: FileTicketDependencies,
  log: Logger | undefined,
): Promise<{
  deliveries: Record<string, SinkDeliveryRecord>;
  failed: { sink: string; code: OutcomeCode; message: string }[];
}> {
  const { store, sinks } = dependencies;
  const now = dependencies.now ?? (() => new Date());
  const deliveries = await store.deliveries(workspaceId, draftId);
  const failed: { sink: string; code: OutcomeCode; message: string }[] = [];
  for (const sink of sinks) {
    if (deliveries[sink.name]) continue;
    try {
      const result = await sink.deliver(delivery);
      deliveries[sink.name] = await store.recordDelivery(workspaceId, draftId, {
        sink: sink.name,
        at: now().toISOString(),
        ...(result.reference ? { reference: result.reference } : {}),
        ...(result.link ? { link: result.link } : {}),
      });
      log?.info({ sink: sink.name }, 'ticket delivered');
    } catch (thrown) {
      const error = toDeskhandError(thrown);
      log?.error({ sink: sink.name, code: error.code, err: error }, 'ticket delivery failed');
      failed.push({ sink: sink.name, code: error.code, message: error.userMessage });
    }
  }
  return { deliveries, failed };
}
