import type { App, Receiver, ReceiverEvent } from '@slack/bolt';

/** Stands in for Bolt's SocketModeReceiver: it hands each envelope to `app.processEvent`, as Bolt's does. */
export class EnvelopeReceiver implements Receiver {
  app: App | undefined;
  init(app: App): void {
    this.app = app;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async deliver(event: ReceiverEvent): Promise<void> {
    await this.app?.processEvent(event);
  }
}
