import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { fileTicket } from '../../src/capabilities/tickets/file-ticket.ts';
import type { SinkResult, TicketDelivery, TicketSink } from '../../src/capabilities/tickets/sinks/ticket-sink.ts';
import { emptyTicket } from '../../src/capabilities/tickets/ticket-schema.ts';
import { newTicketId, type TicketDraft, TicketStore } from '../../src/capabilities/tickets/ticket-store.ts';
import { DeskhandError } from '../../src/errors.ts';

/** A sink that counts deliveries, can be slow, and can fail a scripted number of times. */
class CountingSink implements TicketSink {
  readonly delivered: TicketDelivery[] = [];
  failuresLeft = 0;
  readonly name: string;
  readonly delayMs: number;
  readonly reference: string | undefined;
  constructor(name: string, delayMs = 0, reference?: string) {
    this.name = name;
    this.delayMs = delayMs;
    this.reference = reference;
  }
  async deliver(delivery: TicketDelivery): Promise<SinkResult> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw new DeskhandError('upstream_unavailable', `${this.name} down`, { userMessage: `${this.name} is down.` });
    }
    this.delivered.push(delivery);
    return this.reference ? { reference: this.reference } : {};
  }
}

const prefix = `test:${randomUUID()}:`;
let redis: Redis;
let store: TicketStore;

before(() => {
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  store = new TicketStore(redis, { keyPrefix: prefix });
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function draftFor(source: { channelId: string; messageTs: string }, overrides: Partial<TicketDraft> = {}): TicketDraft {
  return {
    id: newTicketId(),
    workspaceId: 'T_TICKETS',
    channelId: source.channelId,
    messageTs: source.messageTs,
    requestedBy: 'U_REQ',
    createdAt: new Date().toISOString(),
    ticket: emptyTicket({ summary: 'Parcel missing', category: 'missing_delivery', orderIds: ['#48213'] }),
    flags: [],
    mode: 'model',
    ...overrides,
  };
}

let messageCounter = 0;
function newSource() {
  messageCounter += 1;
  return { channelId: 'C_SUPPORT', messageTs: `1764000000.${String(messageCounter).padStart(6, '0')}` };
}

describe('ticket store', () => {
  test('keys are hash-tagged by workspace', async () => {
    const draft = draftFor(newSource());
    for (const key of store.keysOf(draft)) assert.ok(key.startsWith(`${prefix}ticket:{T_TICKETS}:`), key);
  });

  test('never overwrites an existing draft and refuses an edit over a newer version', async () => {
    const draft = draftFor(newSource());
    assert.equal(await store.create(draft), true);
    assert.equal(await store.create({ ...draft, requestedBy: 'U_OTHER' }), false);
    const first = await store.update(draft.workspaceId, draft.id, (content) => ({ ...content, editedBy: 'U1' }), 1);
    assert.equal(first.ok, true);
    const stale = await store.update(draft.workspaceId, draft.id, (content) => ({ ...content, editedBy: 'U2' }), 1);
    assert.deepEqual(stale, { ok: false, reason: 'version_conflict' });
    assert.equal((await store.get(draft.workspaceId, draft.id))?.editedBy, 'U1');
  });

  test('another workspace cannot read a draft by its id', async () => {
    const draft = draftFor(newSource());
    await store.create(draft);
    assert.equal(await store.get('T_OTHER', draft.id), undefined);
  });
});

describe('fileTicket', () => {
  test('files exactly once under ten concurrent clicks (double clicks and redeliveries)', async () => {
    const draft = draftFor(newSource());
    await store.create(draft);
    const webhook = new CountingSink('webhook', 30, 'HD-1001');
    const triage = new CountingSink('triage_channel', 10);
    const clicks = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        fileTicket(
          { workspaceId: draft.workspaceId, draftId: draft.id, userId: `U${index}` },
          { store, sinks: [triage, webhook] },
        ),
      ),
    );
    assert.equal(webhook.delivered.length, 1);
    assert.equal(triage.delivered.length, 1);
    const filed = clicks.filter((outcome) => outcome.kind === 'filed' && !outcome.alreadyFiled);
    assert.equal(filed.length, 1);
    assert.ok(clicks.every((outcome) => outcome.kind === 'filed' || outcome.kind === 'in_progress'));
    // A click redelivered after filing gets the same reference and sends nothing.
    const redelivered = await fileTicket(
      { workspaceId: draft.workspaceId, draftId: draft.id, userId: 'U9' },
      { store, sinks: [triage, webhook] },
    );
    assert.equal(redelivered.kind, 'filed');
    if (redelivered.kind === 'filed') {
      assert.equal(redelivered.alreadyFiled, true);
      assert.equal(redelivered.reference, 'HD-1001');
      assert.equal(redelivered.draft.filed?.by, filed[0]?.kind === 'filed' ? filed[0].draft.filed?.by : undefined);
    }
    assert.equal(webhook.delivered.length, 1);
    assert.equal(webhook.delivered[0]?.ticketId, draft.id);
  });

  test('two drafts of the same source message (two triggers) never both file', async () => {
    const source = newSource();
    const first = draftFor(source);
    const second = draftFor(source);
    await store.create(first);
    await store.create(second);
    const sink = new CountingSink('webhook', 20);
    const [a, b] = await Promise.all([
      fileTicket({ workspaceId: 'T_TICKETS', draftId: first.id, userId: 'U1' }, { store, sinks: [sink] }),
      fileTicket({ workspaceId: 'T_TICKETS', draftId: second.id, userId: 'U2' }, { store, sinks: [sink] }),
    ]);
    assert.equal(sink.delivered.length, 1);
    const kinds = [a?.kind, b?.kind].sort();
    assert.deepEqual(kinds, ['conflict', 'filed']);
    const loser = a?.kind === 'conflict' ? a : b;
    if (loser?.kind === 'conflict') assert.equal(loser.holderDraftId, sink.delivered[0]?.ticketId);
    // Later, the loser learns the winner's reference.
    const again = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: loser === a ? first.id : second.id, userId: 'U3' },
      { store, sinks: [sink] },
    );
    assert.equal(again.kind, 'conflict');
    if (again.kind === 'conflict') assert.match(again.message, /already filed as DH-/);
  });

  test('after a sink failure, the next click delivers only to the sink that failed', async () => {
    const draft = draftFor(newSource());
    await store.create(draft);
    const triage = new CountingSink('triage_channel');
    const webhook = new CountingSink('webhook');
    webhook.failuresLeft = 1;
    const first = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [triage, webhook] },
    );
    assert.equal(first.kind, 'partially_failed');
    if (first.kind === 'partially_failed') {
      assert.deepEqual(first.delivered, ['triage_channel']);
      assert.match(first.message, /webhook is down/);
    }
    assert.equal((await store.get('T_TICKETS', draft.id))?.status, 'draft');
    const second = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [triage, webhook] },
    );
    assert.equal(second.kind, 'filed');
    assert.equal(triage.delivered.length, 1);
    assert.equal(webhook.delivered.length, 1);
  });

  test('a partially delivered draft can be neither edited nor discarded', async () => {
    const draft = draftFor(newSource());
    await store.create(draft);
    const webhook = new CountingSink('webhook');
    webhook.failuresLeft = 1;
    await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [new CountingSink('triage_channel'), webhook] },
    );
    assert.deepEqual(await store.discard('T_TICKETS', draft.id, 'U1'), { ok: false, reason: 'delivered' });
    const edit = await store.update('T_TICKETS', draft.id, (content) => content);
    assert.deepEqual(edit, { ok: false, reason: 'delivered' });
  });

  test('a discarded draft is not filed, and discarding releases the message for a new draft', async () => {
    const source = newSource();
    const discarded = draftFor(source);
    await store.create(discarded);
    const sink = new CountingSink('webhook');
    // Claim the source without delivering: a failing first attempt.
    sink.failuresLeft = 1;
    await fileTicket({ workspaceId: 'T_TICKETS', draftId: discarded.id, userId: 'U1' }, { store, sinks: [sink] });
    assert.equal((await store.discard('T_TICKETS', discarded.id, 'U1')).ok, true);
    const refused = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: discarded.id, userId: 'U1' },
      { store, sinks: [sink] },
    );
    assert.equal(refused.kind, 'discarded');
    const replacement = draftFor(source);
    await store.create(replacement);
    const filed = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: replacement.id, userId: 'U1' },
      { store, sinks: [sink] },
    );
    assert.equal(filed.kind, 'filed');
    assert.equal(sink.delivered.length, 1);
  });

  test('a filed draft cannot be discarded; unknown drafts and missing sinks give clear outcomes', async () => {
    const draft = draftFor(newSource());
    await store.create(draft);
    await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [new CountingSink('webhook')] },
    );
    assert.deepEqual(await store.discard('T_TICKETS', draft.id, 'U1'), { ok: false, reason: 'filed' });
    const missing = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: 'DH-NOPE', userId: 'U1' },
      { store, sinks: [new CountingSink('webhook')] },
    );
    assert.equal(missing.kind, 'not_found');
    const noSinks = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [] },
    );
    assert.equal(noSinks.kind, 'no_sinks');
  });

  test('a crashed filer’s lease expires and the next click resumes without a second delivery', async () => {
    const draft = draftFor(newSource());
    await store.create(draft);
    const sink = new CountingSink('webhook');
    // Simulate a worker that delivered, recorded the delivery, and died holding a short lease.
    const lease = await store.acquireFilingLease('T_TICKETS', draft.id, 50);
    assert.ok(lease);
    await store.claimSource(draft);
    await store.recordDelivery('T_TICKETS', draft.id, {
      sink: 'webhook',
      at: new Date().toISOString(),
      reference: 'HD-9',
    });
    const during = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [sink] },
    );
    assert.equal(during.kind, 'in_progress');
    await new Promise((resolve) => setTimeout(resolve, 80));
    const resumed = await fileTicket(
      { workspaceId: 'T_TICKETS', draftId: draft.id, userId: 'U1' },
      { store, sinks: [sink] },
    );
    assert.equal(resumed.kind, 'filed');
    if (resumed.kind === 'filed') assert.equal(resumed.reference, 'HD-9');
    assert.equal(sink.delivered.length, 0);
  });
});
