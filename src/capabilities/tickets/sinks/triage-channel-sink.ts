/**
 * Triage-channel sink: posts the filed ticket to a channel through the Messenger port. `Messenger.post` is
 * never retried blindly (a lost response could post twice), so a failure here surfaces to `fileTicket`, which
 * records nothing and lets the next File click try again.
 */
import type { Messenger } from '../../../ports/messenger.ts';
import { handOverBlocks } from '../hand-over-card.ts';
import { buildTriageMessage } from '../ticket-card.ts';
import type { SinkResult, TicketDelivery, TicketSink } from './ticket-sink.ts';

export class TriageChannelTicketSink implements TicketSink {
  readonly name = 'triage_channel';
  readonly #messenger: Messenger;
  readonly #channel: string;

  constructor(messenger: Messenger, channel: string) {
    this.#messenger = messenger;
    this.#channel = channel;
  }

  async deliver(delivery: TicketDelivery): Promise<SinkResult> {
    const message = buildTriageMessage({
      ticketId: delivery.ticketId,
      ticket: delivery.ticket,
      filedBy: delivery.filedBy,
      mode: delivery.extractedWithoutModel ? 'rules' : 'model',
      ...(delivery.source.permalink ? { sourcePermalink: delivery.source.permalink } : {}),
    });
    // A hand-over adds what was asked and answered (at most 6 blocks; the ticket's own message has at most 5).
    const blocks = delivery.handOver ? [...message.blocks, ...handOverBlocks(delivery.handOver)] : message.blocks;
    const posted = await this.#messenger.post({ channel: this.#channel, text: message.text, blocks });
    let link: string | undefined;
    try {
      link = await this.#messenger.permalink(posted.channel, posted.ts);
    } catch {
      // The post succeeded; a missing permalink only means the filed card shows no link.
    }
    return link ? { link } : {};
  }
}
