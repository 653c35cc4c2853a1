/**
 * Handing a conversation over to a human (issue 16): every answer and every agent run that did not get the job
 * done carries a "Get a human" button whose value is only a hand-over id. What the ticket is prefilled with is
 * stored here when the message is posted, scoped to its workspace and channel, so a click never takes content
 * from the button value. Answers and the agent record through `HandOverRecorder` (injected by composition); the
 * tickets capability reads the record and files it once, whoever clicks first.
 */

/** A source the answer cited, as the ticket shows it: our own ingestion's metadata, never document text. */
export interface HandOverSource {
  title: string;
  /** Section path and page, e.g. "Install › Linux, p. 4". */
  location?: string;
  /** http(s) link to the document, when it has one. */
  link?: string;
}

/** What a hand-over ticket is prefilled with. Every text is untrusted (a person's or a model's words). */
export interface HandOverRecord {
  /** The button's value: an answer id or an agent run id. */
  id: string;
  kind: 'answer' | 'agent_run';
  workspaceId: string;
  /** The channel the answer or run message is in: a click from any other channel is refused. */
  channelId: string;
  /** The thread the message is in (the note "handed over by" goes there); absent when the message starts one. */
  threadTs?: string;
  /** Who asked the question or started the run. */
  askerId: string;
  question: string;
  /** The answer as shown, or the run's outcome; cut to `handOverLimits.answer`. */
  answer: string;
  /** How the answer or run ended (`answered`, `no_sources`, `failed`, `over_budget`, a run outcome…). */
  outcome: string;
  sources: HandOverSource[];
  /** ISO 8601. */
  createdAt: string;
}

/** Bounds a record is cut to before it is stored (the ticket card must stay within Block Kit's limits). */
export const handOverLimits = {
  question: 2_000,
  answer: 4_000,
  outcome: 60,
  sources: 10,
  sourceTitle: 200,
  sourceLocation: 200,
  sourceLink: 1_000,
} as const;

export interface HandOverRecorder {
  /**
   * Stores the record (cut to `handOverLimits`) before the message with its button is posted. Rejects when it
   * could not be stored: the caller then posts the message without the button rather than a button that fails.
   */
  record(record: HandOverRecord): Promise<void>;
}
