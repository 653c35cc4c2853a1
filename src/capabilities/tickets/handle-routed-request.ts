/**
 * The ticket route: turns what the router hands over (`/ticket <text>`, a mention or thread follow-up, the
 * "Create ticket" shortcut, the ticket reaction) into one draft request.
 *
 * Guarantees: in a thread, the ticket is made from its people's messages (the customers' when there are any)
 * and is keyed on the thread root, so one thread yields at most one filed ticket; a `/ticket` command is keyed
 * on its request id and gets no permalink; a mention with nothing to make a ticket from gets an ephemeral
 * explanation and no extraction; the card (or the requester's explanation) goes where the request's `Reply` says
 * (the trigger's thread; the channel for `/ticket`), and the conversation continues in that thread: a follow-up
 * there, e.g. the missing details after an explanation, is a ticket request again.
 */
import type { Reply } from '../../ports/capability.ts';
import type { CreateDraftRequest, TicketTrigger } from './create-draft.ts';
import type { TicketSourceFile } from './extract-ticket.ts';
import type { TicketWorkflowDependencies } from './ticket-workflow-dependencies.ts';

/**
 * What the router hands the ticket capability: structurally a subset of `CapabilityRequest`
 * (src/ports/capability.ts), so `ticket: (request, reply) => workflow.handleRoutedRequest(request, reply)` wires it.
 */
export interface RoutedTicketRequest {
  origin: 'mention' | 'thread_follow_up' | 'command' | 'shortcut' | 'reaction';
  workspaceId: string;
  channelId: string;
  userId: string;
  /** Command text, mention text without the "ticket" keyword, or the shortcut/reaction target's text. */
  text: string;
  /** The triggering message (mention) or the target message (shortcut, reaction). */
  messageTs?: string;
  threadTs?: string;
  replyThreadTs?: string;
  requestId: string;
  /** Earlier messages of the thread, oldest first (the triggering message excluded). */
  threadContext?: readonly { ts: string; author: 'deskhand' | 'user' | 'other_bot'; userId?: string; text: string }[];
}

/**
 * The ticket route: `/ticket <text>`, a mention ("@Deskhand ticket this" in a thread reads the thread's
 * people's messages), the "Create ticket" shortcut and the ticket reaction. Posts the card where `reply` says
 * (or tells the requester why there is none) and returns `posted`. `createDraft` makes and posts the card.
 */
// The words of a bare request on text whose whitespace runs are single spaces and whose closing run of spaces,
// dots and exclamation marks is its first character only (see `isBareTicketRequest`). No repetition: linear.
const bareTicketRequest =
  /^ ?(?:please )?(?:make |create |file |open )?(?:a )?(?:ticket ?)?(?:this|that|it|of this|of it|from this|for this)?[ .!]?$/i;

/**
 * True when `text` only asks for a ticket without describing anything ("ticket this", "please make a ticket of
 * it!"): what `/^\s*(?:please\s+)?…(?:this|that|it|…)?[\s.!]*$/i` matched, in linear time (issue 14: its runs of
 * optional whitespace traded characters with each other). Collapsing each whitespace run to one space and the
 * closing run of `[\s.!]` to its first character keeps every distinction that pattern made.
 */
export function isBareTicketRequest(text: string): boolean {
  const spaced = text.replace(/\s+/g, ' ');
  let end = spaced.length;
  while (end > 0 && ' .!'.includes(spaced[end - 1] as string)) end -= 1;
  return bareTicketRequest.test(spaced.slice(0, Math.min(spaced.length, end + 1)));
}

export async function handleRoutedRequest(
  request: RoutedTicketRequest,
  reply: Reply,
  dependencies: Pick<TicketWorkflowDependencies, 'messenger' | 'timeZone' | 'logger' | 'now'>,
  createDraft: (request: CreateDraftRequest) => Promise<unknown>,
): Promise<{ kind: 'posted' }> {
  const now = dependencies.now ?? (() => new Date());
  const nowTs = (now().getTime() / 1000).toFixed(6);
  let text = request.text;
  let textTs = request.messageTs ?? nowTs;
  let source = { channelId: request.channelId, messageTs: request.messageTs ?? `command:${request.requestId}` };
  let files: TicketSourceFile[] | undefined;

  const conversational = request.origin === 'mention' || request.origin === 'thread_follow_up';
  // "ticket this", "make a ticket of it": words that point at the conversation rather than describe a problem.
  const substance = isBareTicketRequest(request.text) ? '' : request.text.trim();
  if (conversational && request.threadTs) {
    const people = (request.threadContext ?? []).filter((message) => message.author === 'user');
    const customers = people.filter((message) => message.userId !== request.userId);
    const chosen = customers.length > 0 ? customers : people;
    const parts = chosen.map((message) => message.text.trim()).filter(Boolean);
    if (substance) parts.push(substance);
    text = parts.join('\n\n');
    source = { channelId: request.channelId, messageTs: request.threadTs };
    textTs = chosen.at(-1)?.ts ?? textTs;
  }
  if (conversational && !substance && (!request.threadTs || !text.trim())) {
    const message =
      'There is nothing to make a ticket from here. Mention me with "ticket this" in the customer’s thread, use the *Create ticket* message shortcut, or `/ticket <what the customer wrote>`.';
    await reply.postEphemeral({ text: message });
    reply.continueInThread();
    dependencies.logger?.info({ origin: request.origin, code: 'invalid_input' }, 'ticket mention without content');
    return { kind: 'posted' };
  }
  if ((request.origin === 'shortcut' || request.origin === 'reaction') && request.messageTs && !text.trim()) {
    // The target message has no text: find out whether it holds files, to say so precisely.
    const target = await dependencies.messenger.message(request.channelId, request.messageTs).catch(() => undefined);
    files = target?.files?.map((file) => ({
      ...(file.name ? { name: file.name } : {}),
      ...(file.mimetype ? { mimetype: file.mimetype } : {}),
    }));
  }
  await createDraft({
    trigger: triggerOf(request.origin),
    workspaceId: request.workspaceId,
    userId: request.userId,
    source,
    textTs,
    text,
    ...(files ? { files } : {}),
    reply: { channel: reply.channel, ...(reply.threadTs ? { threadTs: reply.threadTs } : {}) },
    timeZone: dependencies.timeZone,
    requestId: request.requestId,
  });
  reply.continueInThread();
  return { kind: 'posted' };
}

/** The metrics' trigger label of a route origin: a thread follow-up counts as a mention. */
function triggerOf(origin: RoutedTicketRequest['origin']): TicketTrigger {
  return origin === 'command'
    ? 'command'
    : origin === 'shortcut'
      ? 'shortcut'
      : origin === 'reaction'
        ? 'reaction'
        : 'mention';
}
