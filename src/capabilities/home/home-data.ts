/**
 * What the App Home shows and where it comes from: the value types of each section and `HomeReaders`, the small
 * read-only ports the Home gathers them through. Composition (`src/composition/build-home.ts`) wires each reader
 * to its capability's store; the Home never imports another capability.
 *
 * Guarantees of every reader: it reads only the workspace it is given (and, for a person's own lists, only that
 * person's records), returns at most `limit` items plus the total it knows of (so the view can say "and N more"),
 * and never writes. Every field that came from a person or a model (ticket summaries, goals, questions, titles) is
 * untrusted text: the view escapes it.
 */

/** A list the view shows the first items of, with how many there are in all (≥ `items.length`). */
export interface Listed<T> {
  items: T[];
  total: number;
}

export interface HomeTicket {
  id: string;
  summary: string;
  status: 'draft' | 'filed' | 'discarded';
  /** Epoch ms. */
  createdAt: number;
  /** Where the source message was. */
  channelId: string;
}

export interface HomeRun {
  runId: string;
  goal: string;
  status: 'queued' | 'running' | 'awaiting_approval' | 'ended';
  /** The outcome once ended (`finished`, `stopped`, `cost_limit`…). */
  outcome?: string;
  createdAt: number;
  channelId: string;
  spentMicroUsd: number;
}

/** One channel's spend today and this month against its caps (µ$). */
export interface ChannelSpend {
  channelId: string;
  dailySpentMicroUsd: number;
  dailyCapMicroUsd: number;
  monthlySpentMicroUsd: number;
  monthlyCapMicroUsd: number;
}

export interface UnansweredQuestion {
  question: string;
  /** How often it was asked and found no sources. */
  count: number;
}

export interface HomeApproval {
  requestId: string;
  summary: string;
  tool: string;
  requesterId: string;
  channelId: string;
  expiresAt: number;
  /** The value the approval card's buttons carry (request id and hash; checked again server-side on click). */
  buttonValue: string;
}

export interface HomeDocument {
  documentId: string;
  title: string;
  /** `workspace` or `channel:C…`. */
  scope: string;
  chunkCount: number;
  ingestedAt: string;
}

export interface FeedbackTally {
  helpful: number;
  notHelpful: number;
}

/** The read-only ports the Home gathers its sections through (see the header). */
export interface HomeReaders {
  /** Whether `userId` administers the workspace (the workspace's settings, never the request). */
  isAdmin(workspaceId: string, userId: string): Promise<boolean>;
  recentTickets(workspaceId: string, userId: string, limit: number): Promise<Listed<HomeTicket>>;
  recentRuns(workspaceId: string, userId: string, limit: number): Promise<Listed<HomeRun>>;
  channelSpend(workspaceId: string, limit: number): Promise<Listed<ChannelSpend>>;
  unansweredQuestions(workspaceId: string, limit: number): Promise<Listed<UnansweredQuestion>>;
  pendingApprovals(workspaceId: string, limit: number): Promise<Listed<HomeApproval>>;
  documents(workspaceId: string, limit: number): Promise<Listed<HomeDocument>>;
  feedbackTally(workspaceId: string): Promise<FeedbackTally>;
}

/** A section's content, or why it could not be read (the rest of the Home is still shown). */
export type Loaded<T> = { ok: true; value: T } | { ok: false };

/** Everything one person's Home is built from. */
export interface HomeData {
  userId: string;
  /** A one-off line at the top (e.g. what a click from the Home did). Untrusted-free: written by Deskhand. */
  notice?: string;
  /** False when no language model is configured (the help section says what works without one). */
  modelConfigured: boolean;
  ticketReaction: string;
  tickets: Loaded<Listed<HomeTicket>>;
  runs: Loaded<Listed<HomeRun>>;
  /** Present only for an admin. */
  admin?: {
    spend: Loaded<Listed<ChannelSpend>>;
    unanswered: Loaded<Listed<UnansweredQuestion>>;
    approvals: Loaded<Listed<HomeApproval>>;
    documents: Loaded<Listed<HomeDocument>>;
    feedback: Loaded<FeedbackTally>;
  };
}
