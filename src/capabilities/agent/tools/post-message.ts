/**
 * Write tool: post a message to a channel. Never runs without an approved request bound to this exact channel
 * and text. Not idempotent: `chat.postMessage` has no dedupe, so a post lost in a crash is escalated.
 */
import { z } from 'zod';
import type { Messenger } from '../../../ports/messenger.ts';
import { truncate } from '../../../slack-kit/mrkdwn.ts';
import type { AgentTool } from '../tool-registry.ts';

const inputSchema = z
  .object({
    channel: z
      .string()
      .regex(/^[CG][A-Z0-9]{2,}$/, 'must be a channel id such as C0123ABCD')
      .describe('Channel id to post in'),
    text: z.string().trim().min(1).max(3000).describe('The message, Slack mrkdwn'),
  })
  .strict();

export type PostMessageArguments = z.infer<typeof inputSchema>;

export function createPostMessageTool(dependencies: {
  messenger: Pick<Messenger, 'post'>;
}): AgentTool<PostMessageArguments> {
  return {
    name: 'post_message',
    description: 'Post a message to a Slack channel. Needs human approval before it runs.',
    inputSchema,
    risk: 'write',
    costMicroUsd: 0,
    timeoutMs: 15_000,
    idempotent: false,
    describe: (args) => ({
      summary: `Post a message to channel ${args.channel}: "${truncate(args.text, 500)}"`,
      target: `channel:${args.channel}`,
    }),
    async run(args) {
      const posted = await dependencies.messenger.post({ channel: args.channel, text: args.text });
      return { content: `Posted to ${args.channel} (message ${posted.ts}).` };
    },
  };
}
