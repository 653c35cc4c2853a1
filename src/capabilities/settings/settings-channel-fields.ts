/**
 * The settings modal's channel pickers and what a submission of them means: the allow/deny list and, per
 * capability, the channels where a plain mention always means that capability (`channels.mentionDefaults`).
 *
 * Guarantees:
 * - Slack's multi conversations select is shown with at most `pickerLimit` (100) channels; Slack documents no
 *   upper bound for `max_selected_items`, so Deskhand does not rely on a larger one. Channels stored beyond what a
 *   picker shows (the schema allows 500 listed channels and 1,500 mention defaults) are **kept** on save, and the
 *   modal says how many there are — saving never drops a channel the admin could not see.
 * - A channel in two mention lists is a field error naming the channel and the other list (one default each).
 * - Every id is checked against a linear pattern and every list is bounded before use.
 */
import type { MentionDefault, WorkspaceSettings } from '../../ports/workspace-settings.ts';
import type { SettingsField } from '../../slack-kit/settings-ids.ts';

/** How many channels one picker shows and accepts. */
export const pickerLimit = 100;

/** The capabilities a channel's plain mentions can be fixed to, with the modal's field and label for each. */
export const mentionKinds = [
  ['question', 'mentionQuestion', 'Plain mentions mean a question in…'],
  ['ticket', 'mentionTicket', 'Plain mentions mean a ticket in…'],
  ['agent', 'mentionAgent', 'Plain mentions mean an agent task in…'],
] as const satisfies readonly (readonly [Exclude<MentionDefault, 'auto'>, SettingsField, string])[];

type Kind = (typeof mentionKinds)[number][0];

/** The channels whose plain mentions mean `kind`, in stored order. */
export function channelsWithDefault(mentionDefaults: Readonly<Record<string, MentionDefault>>, kind: Kind): string[] {
  return Object.entries(mentionDefaults)
    .filter(([, value]) => value === kind)
    .map(([channel]) => channel);
}

/** What a picker shows of `all` and what it cannot show (kept on save). */
export function splitForPicker(all: readonly string[]): { shown: string[]; hidden: string[] } {
  return { shown: all.slice(0, pickerLimit), hidden: all.slice(pickerLimit) };
}

/** The hint sentence for channels a picker cannot show, or an empty string. */
export function hiddenChannelsNote(hidden: readonly string[]): string {
  if (hidden.length === 0) return '';
  return ` ${hidden.length} more stored channel${hidden.length === 1 ? ' is' : 's are'} not shown here (a picker holds ${pickerLimit}) and ${hidden.length === 1 ? 'is' : 'are'} kept when you save.`;
}

export interface ChannelFieldsInput {
  /** The channels picked in the list picker (validated ids, at most `pickerLimit`). */
  listed: string[];
  /** Per kind, the channels picked (validated ids, at most `pickerLimit`). */
  mentions: Record<Kind, string[]>;
  /** The channel settings in force when the modal was opened (what was hidden is kept from here). */
  current: WorkspaceSettings['channels'];
}

export type ChannelFieldsResult =
  | { kind: 'valid'; channels: string[]; mentionDefaults: Record<string, MentionDefault> }
  | { kind: 'invalid'; field: SettingsField; message: string };

/** The listed channels and mention defaults a submission means, with the stored channels the pickers hid. */
export function channelFieldsOf(input: ChannelFieldsInput): ChannelFieldsResult {
  const keptListed = splitForPicker(input.current.channels).hidden.filter((id) => !input.listed.includes(id));
  const channels = [...input.listed, ...keptListed];
  const mentionDefaults: Record<string, MentionDefault> = {};
  const owner = new Map<string, (typeof mentionKinds)[number]>();
  for (const entry of mentionKinds) {
    const [kind, field] = entry;
    for (const channel of input.mentions[kind]) {
      const other = owner.get(channel);
      if (other) {
        return {
          kind: 'invalid',
          field,
          message: `Channel ${channel} is also in “${other[2]}”. A channel has one meaning for plain mentions: remove it from one list.`,
        };
      }
      owner.set(channel, entry);
      mentionDefaults[channel] = kind;
    }
  }
  // Hidden defaults are kept unless the admin gave the channel another meaning in a picker.
  for (const [kind] of mentionKinds) {
    for (const channel of splitForPicker(channelsWithDefault(input.current.mentionDefaults, kind)).hidden) {
      if (!owner.has(channel)) mentionDefaults[channel] = kind;
    }
  }
  return { kind: 'valid', channels, mentionDefaults };
}
