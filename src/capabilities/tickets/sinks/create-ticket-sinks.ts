/**
 * The sinks the configuration asks for: a triage channel (`TICKET_TRIAGE_CHANNEL_ID`) and/or a signed webhook
 * (`TICKET_WEBHOOK_URL` + `TICKET_WEBHOOK_SECRET`, which configuration already requires together).
 */
import type { Logger } from '../../../observability/logger.ts';
import type { Messenger } from '../../../ports/messenger.ts';
import type { TicketSink } from './ticket-sink.ts';
import { TriageChannelTicketSink } from './triage-channel-sink.ts';
import { type WebhookSinkOptions, WebhookTicketSink } from './webhook-sink.ts';

export interface TicketSinkConfiguration {
  triageChannelId: string | undefined;
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
}

/** Triage channel first (people see it at once), then the webhook. Empty when nothing is configured. */
export function createTicketSinks(
  configuration: TicketSinkConfiguration,
  dependencies: { messenger: Messenger; logger?: Logger; webhook?: Partial<WebhookSinkOptions> },
): TicketSink[] {
  const sinks: TicketSink[] = [];
  if (configuration.triageChannelId)
    sinks.push(new TriageChannelTicketSink(dependencies.messenger, configuration.triageChannelId));
  if (configuration.webhookUrl && configuration.webhookSecret) {
    sinks.push(
      new WebhookTicketSink({
        url: configuration.webhookUrl,
        secret: configuration.webhookSecret,
        ...(dependencies.logger ? { logger: dependencies.logger } : {}),
        ...dependencies.webhook,
      }),
    );
  }
  return sinks;
}
