/**
 * A request's reply anchor: the first message a run of the request posted (the "Searching…" placeholder, the
 * streamed message or the reply itself), kept with the request's durable work item, so that a re-run after its
 * worker died continues that message (`chat.update`) instead of posting a second reply beside a half-written one.
 * The work side gives each routed request its anchor (`IncomingRequest.replyAnchor`); the router's reply saves the
 * first message through `ReplyAnchors` and, on a re-run, edits the saved message.
 */

/** Which durable item a request's reply belongs to, and the message an earlier run of it started. */
export interface ReplyAnchor {
  /** The delivery whose durable work item keeps the reply's ts. */
  deliveryId: string;
  /** The first message an earlier run posted; absent on a first run (or when that run posted nothing). */
  replyTs?: string;
}

export interface ReplyAnchors {
  /**
   * Saves `replyTs` as the first message of `deliveryId`'s reply, with its work item (nothing when the item is
   * gone: the delivery has ended). Never rejects: a failure is logged, and the reply goes on (a re-run after a
   * crash would then post a new message, as before anchors).
   */
  save(deliveryId: string, replyTs: string): Promise<void>;
}
