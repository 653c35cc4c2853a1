/**
 * Block Kit and mrkdwn as a person reads them in a terminal: mentions and channel links by name, dates by their
 * fallback text, a few emoji as emoji, bold/italic markers dropped, sections, fields ("Label: value"), context
 * lines, modal inputs with their prefilled values, and buttons numbered `[3] File` so typing 3 clicks them.
 * Button numbers are stable for a session: the same button (message, action, value) keeps its number.
 */
import { fileURLToPath } from 'node:url';

/** File sources are shown relative to the checkout (`examples/handbook/…`). */
const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

type Json = Record<string, unknown>;

/** Where a button lives: what a `block_actions` payload needs to click it. */
export interface DemoButton {
  number: number;
  label: string;
  actionId: string;
  value: string;
  blockId: string;
  channel: string;
  messageTs: string;
  threadTs?: string;
  ephemeral: boolean;
  /** The message as Slack sends it in the payload (ts, text, blocks). */
  message: Json;
}

export interface MessagePlace {
  channel: string;
  ts: string;
  threadTs?: string;
  ephemeral: boolean;
  text: string;
}

const emoji: Record<string, string> = {
  white_check_mark: '✅',
  heavy_check_mark: '✔',
  x: '❌',
  warning: '⚠️',
  hourglass_flowing_sand: '⏳',
  hourglass: '⌛',
  writing_hand: '✍️',
  robot_face: '🤖',
  raised_hand: '✋',
  white_circle: '⚪',
  large_blue_circle: '🔵',
  large_orange_circle: '🟠',
  large_yellow_circle: '🟡',
  red_circle: '🔴',
  green_circle: '🟢',
  pause_button: '⏸',
  octagonal_sign: '🛑',
  ticket: '🎫',
  mag: '🔍',
  books: '📚',
  money_with_wings: '💸',
  moneybag: '💰',
  no_entry: '⛔',
  wave: '👋',
  arrows_counterclockwise: '🔄',
  thumbsup: '👍',
  thumbsdown: '👎',
  eyes: '👀',
  lock: '🔒',
  page_facing_up: '📄',
  bulb: '💡',
  checkered_flag: '🏁',
  wastebasket: '🗑',
  triangular_flag_on_post: '🚩',
  scissors: '✂️',
  repeat: '🔁',
  information_source: 'ℹ️',
  construction: '🚧',
  card_index_dividers: '🗂',
  brain: '🧠',
};

const channelNames: Record<string, string> = { C0DEMO: 'demo', C0TRIAGE: 'triage' };
const userNames: Record<string, string> = { W222: 'you', U0BOT: 'deskhand' };

export function channelName(id: string): string {
  return `#${channelNames[id] ?? id}`;
}

/** Slack mrkdwn (or plain text) → readable terminal text. */
export function readable(text: string): string {
  return text
    .replace(/```\n?/g, '')
    .replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id: string) => `@${userNames[id] ?? id}`)
    .replace(/<#([CG][A-Z0-9]+)(?:\|([^>]*))?>/g, (_, id: string, name?: string) =>
      name ? `#${name}` : channelName(id),
    )
    .replace(/<!(here|channel|everyone)>/g, '@$1')
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<(https?:[^>]+)>/g, '$1')
    .replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => emoji[name] ?? whole)
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=[\s).,:;!?]|$)/gm, '$1$2')
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,:;!?]|$)/gm, '$1$2')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replaceAll(repositoryRoot, '');
}

function textOf(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object' && 'text' in node) return String((node as Json).text ?? '');
  return '';
}

/** Numbers buttons for the whole session and remembers where each one is. */
export class ButtonBook {
  #numbers = new Map<string, number>();
  #buttons = new Map<number, DemoButton>();
  /** Buttons currently on screen, per message key. */
  #live = new Map<string, number[]>();

  /** Registers a message's buttons (replacing what it showed before); returns them with their numbers. */
  register(place: MessagePlace, blocks: Json[]): DemoButton[] {
    const messageKey = `${place.channel}:${place.ts}`;
    for (const number of this.#live.get(messageKey) ?? []) this.#buttons.delete(number);
    const message: Json = { type: 'message', ts: place.ts, text: place.text, blocks };
    const found: DemoButton[] = [];
    for (const block of blocks) {
      const elements = [
        ...((block.elements as Json[] | undefined) ?? []),
        ...(block.accessory ? [block.accessory as Json] : []),
      ];
      for (const element of elements) {
        if (element.type !== 'button') continue;
        const actionId = String(element.action_id ?? '');
        const value = String(element.value ?? '');
        const key = `${messageKey}:${actionId}:${value}`;
        let number = this.#numbers.get(key);
        if (number === undefined) {
          number = this.#numbers.size + 1;
          this.#numbers.set(key, number);
        }
        const button: DemoButton = {
          number,
          label: readable(textOf(element.text)),
          actionId,
          value,
          blockId: String(block.block_id ?? ''),
          channel: place.channel,
          messageTs: place.ts,
          ...(place.threadTs ? { threadTs: place.threadTs } : {}),
          ephemeral: place.ephemeral,
          message,
        };
        this.#buttons.set(number, button);
        found.push(button);
      }
    }
    this.#live.set(
      messageKey,
      found.map((button) => button.number),
    );
    return found;
  }

  byNumber(number: number): DemoButton | undefined {
    return this.#buttons.get(number);
  }

  /** The newest button on screen whose label matches (case-insensitive, ignoring emoji and a trailing "…"). */
  byLabel(label: string): DemoButton | undefined {
    const wanted = simplify(label);
    const live = [...this.#buttons.values()].sort((left, right) => right.number - left.number);
    return (
      live.find((button) => simplify(button.label) === wanted) ??
      live.find((button) => simplify(button.label).startsWith(wanted))
    );
  }

  /** Labels of the buttons on screen, for "no such button" messages. */
  visible(): string[] {
    return [...this.#buttons.values()].map((button) => `[${button.number}] ${button.label}`);
  }
}

function simplify(label: string): string {
  return label
    .replace(/[^\p{L}\p{N} ]/gu, '')
    .trim()
    .toLowerCase();
}

function buttonsLine(buttons: DemoButton[]): string {
  return buttons.map((button) => `[${button.number}] ${button.label}`).join('  ');
}

/** A section's fields as "Label: value" pairs, two to a line. */
function fieldLines(fields: Json[]): string[] {
  const pairs = fields.map((field) => {
    const [label = '', ...rest] = readable(textOf(field)).split('\n');
    return rest.length > 0 ? `${label}: ${rest.join(' ')}` : label;
  });
  const lines: string[] = [];
  for (let index = 0; index < pairs.length; index += 2) lines.push(pairs.slice(index, index + 2).join('   ·   '));
  return lines;
}

/** Value shown for a modal input: its prefilled value, or "—". */
export function inputValue(element: Json): string {
  if (typeof element.initial_value === 'string') return element.initial_value;
  if (typeof element.initial_date === 'string') return element.initial_date;
  if (element.initial_option) return textOf((element.initial_option as Json).text);
  if (Array.isArray(element.initial_options)) {
    return (element.initial_options as Json[]).map((option) => textOf(option.text)).join(', ');
  }
  return '—';
}

/** Renders blocks as lines; buttons are registered in `book` for `place`. */
export function renderBlocks(blocks: Json[], book: ButtonBook, place: MessagePlace): string[] {
  const buttons = book.register(place, blocks);
  const lines: string[] = [];
  for (const block of blocks) {
    switch (block.type) {
      case 'section': {
        const text = readable(textOf(block.text));
        if (text) lines.push(...text.split('\n'));
        if (Array.isArray(block.fields)) lines.push(...fieldLines(block.fields as Json[]));
        const accessory = buttons.filter(
          (button) => button.actionId === (block.accessory as Json | undefined)?.action_id,
        );
        if (accessory.length > 0) lines.push(buttonsLine(accessory));
        break;
      }
      case 'header':
      case 'markdown':
        lines.push(...readable(textOf(block.text)).split('\n'));
        break;
      case 'context':
        lines.push(
          ((block.elements as Json[] | undefined) ?? [])
            .map((element) => readable(textOf(element)))
            .filter(Boolean)
            .join('  '),
        );
        break;
      case 'divider':
        lines.push('────────');
        break;
      case 'actions': {
        const row = buttons.filter((button) => button.blockId === String(block.block_id ?? ''));
        if (row.length > 0) lines.push(buttonsLine(row));
        break;
      }
      case 'input': {
        const element = (block.element as Json | undefined) ?? {};
        lines.push(`${readable(textOf(block.label))}: ${readable(inputValue(element))}`);
        break;
      }
      default:
        break;
    }
  }
  return lines.filter((line) => line.trim() !== '');
}
