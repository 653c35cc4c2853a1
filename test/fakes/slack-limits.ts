/**
 * Slack's message and view limits (docs/platform-facts.md "Slack: egress" and the Block Kit reference), as a
 * checker the fake Web API applies to every message it receives. Returns the Slack error code the real API
 * answers with, plus a human-readable detail for the test failure message.
 */

export const slackLimits = {
  blocksPerMessage: 50,
  blocksPerView: 100,
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  actionId: 255,
  blockId: 255,
  buttonText: 75,
  buttonValue: 2000,
  messageText: 40_000,
  /** `msg_blocks_too_long` has been observed at about this many cumulative characters of block text. */
  cumulativeBlockText: 13_200,
  markdownText: 12_000,
  viewBytes: 250_000,
  viewTitle: 24,
  privateMetadata: 3000,
  callbackId: 255,
} as const;

export interface LimitProblem {
  /** The error code Slack answers with (`invalid_blocks`, `msg_too_long`, …). */
  error: string;
  detail: string;
}

const knownBlockTypes = new Set([
  'actions',
  'context',
  'context_actions',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sum of the lengths of every `text` string anywhere inside the blocks. */
export function blockTextLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + blockTextLength(item), 0);
  if (!isObject(value)) return 0;
  let total = 0;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'text' && typeof child === 'string') total += child.length;
    else total += blockTextLength(child);
  }
  return total;
}

function textObjectProblem(value: unknown, where: string, maxLength: number, plainOnly = false): string | undefined {
  if (!isObject(value)) return `${where} must be a text object`;
  if (value.type !== 'plain_text' && value.type !== 'mrkdwn') return `${where}.type must be plain_text or mrkdwn`;
  if (plainOnly && value.type !== 'plain_text') return `${where}.type must be plain_text`;
  if (typeof value.text !== 'string' || value.text.length === 0) return `${where}.text must be a non-empty string`;
  if (value.text.length > maxLength) return `${where}.text is ${value.text.length} characters (max ${maxLength})`;
  return undefined;
}

function elementProblem(element: unknown, where: string): string | undefined {
  if (!isObject(element) || typeof element.type !== 'string') return `${where} must be an element with a type`;
  if (typeof element.action_id === 'string' && element.action_id.length > slackLimits.actionId) {
    return `${where}.action_id is longer than ${slackLimits.actionId}`;
  }
  if (element.type === 'button') {
    const text = textObjectProblem(element.text, `${where}.text`, slackLimits.buttonText, true);
    if (text) return text;
    if (typeof element.value === 'string' && element.value.length > slackLimits.buttonValue) {
      return `${where}.value is longer than ${slackLimits.buttonValue}`;
    }
  }
  return undefined;
}

function actionIdsOf(block: JsonObject): string[] {
  const ids: string[] = [];
  const collect = (element: unknown) => {
    if (isObject(element) && typeof element.action_id === 'string') ids.push(element.action_id);
  };
  if (Array.isArray(block.elements)) block.elements.forEach(collect);
  collect(block.accessory);
  collect(block.element);
  return ids;
}

function blockProblem(block: unknown, index: number): string | undefined {
  const where = `blocks[${index}]`;
  if (!isObject(block) || typeof block.type !== 'string') return `${where} must be an object with a type`;
  if (!knownBlockTypes.has(block.type)) return `${where}.type '${block.type}' is not a block type`;
  if (typeof block.block_id === 'string' && block.block_id.length > slackLimits.blockId) {
    return `${where}.block_id is longer than ${slackLimits.blockId}`;
  }
  const actionIds = actionIdsOf(block);
  const duplicate = actionIds.find((id, position) => actionIds.indexOf(id) !== position);
  if (duplicate !== undefined) return `${where} repeats action_id '${duplicate}' (must be unique within a block)`;
  switch (block.type) {
    case 'section': {
      if (block.text === undefined && block.fields === undefined) return `${where} needs text or fields`;
      if (block.text !== undefined) {
        const problem = textObjectProblem(block.text, `${where}.text`, slackLimits.sectionText);
        if (problem) return problem;
      }
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields) || block.fields.length > slackLimits.sectionFields) {
          return `${where}.fields must be an array of at most ${slackLimits.sectionFields}`;
        }
        for (const [fieldIndex, field] of block.fields.entries()) {
          const problem = textObjectProblem(field, `${where}.fields[${fieldIndex}]`, slackLimits.sectionFieldText);
          if (problem) return problem;
        }
      }
      if (block.accessory !== undefined) return elementProblem(block.accessory, `${where}.accessory`);
      return undefined;
    }
    case 'header':
      return textObjectProblem(block.text, `${where}.text`, slackLimits.headerText, true);
    case 'context': {
      if (!Array.isArray(block.elements) || block.elements.length === 0) return `${where}.elements must not be empty`;
      if (block.elements.length > slackLimits.contextElements) {
        return `${where} has ${block.elements.length} elements (max ${slackLimits.contextElements})`;
      }
      return undefined;
    }
    case 'actions': {
      if (!Array.isArray(block.elements) || block.elements.length === 0) return `${where}.elements must not be empty`;
      if (block.elements.length > slackLimits.actionsElements) {
        return `${where} has ${block.elements.length} elements (max ${slackLimits.actionsElements})`;
      }
      for (const [elementIndex, element] of block.elements.entries()) {
        const problem = elementProblem(element, `${where}.elements[${elementIndex}]`);
        if (problem) return problem;
      }
      return undefined;
    }
    case 'markdown':
      if (typeof block.text !== 'string' || block.text.length === 0) return `${where}.text must be a non-empty string`;
      return undefined;
    case 'input':
      if (!isObject(block.label)) return `${where}.label is required`;
      if (!isObject(block.element)) return `${where}.element is required`;
      return elementProblem(block.element, `${where}.element`);
    default:
      return undefined;
  }
}

/** Checks a `blocks` value against Block Kit limits. `maxBlocks` is 50 for messages and 100 for views. */
export function checkBlocks(
  blocks: unknown,
  maxBlocks: number = slackLimits.blocksPerMessage,
): LimitProblem | undefined {
  if (!Array.isArray(blocks)) return { error: 'invalid_blocks_format', detail: 'blocks must be a JSON array' };
  if (blocks.length > maxBlocks) {
    return { error: 'invalid_blocks', detail: `${blocks.length} blocks (max ${maxBlocks})` };
  }
  const blockIds = new Set<string>();
  for (const [index, block] of blocks.entries()) {
    const problem = blockProblem(block, index);
    if (problem) return { error: 'invalid_blocks', detail: problem };
    if (isObject(block) && typeof block.block_id === 'string') {
      if (blockIds.has(block.block_id)) {
        return { error: 'invalid_blocks', detail: `blocks[${index}] repeats block_id '${block.block_id}'` };
      }
      blockIds.add(block.block_id);
    }
  }
  const markdownLength = blocks
    .filter((block) => isObject(block) && block.type === 'markdown')
    .reduce<number>((sum, block) => sum + blockTextLength(block), 0);
  if (markdownLength > slackLimits.markdownText) {
    return {
      error: 'invalid_blocks',
      detail: `markdown blocks hold ${markdownLength} characters (max ${slackLimits.markdownText})`,
    };
  }
  return undefined;
}

/** Checks a message payload (`text` and `blocks`): block limits, cumulative block text, text length. */
export function checkMessage(text: unknown, blocks: unknown): LimitProblem | undefined {
  if (blocks !== undefined) {
    const problem = checkBlocks(blocks);
    if (problem) return problem;
    const total = blockTextLength(blocks);
    if (total > slackLimits.cumulativeBlockText) {
      return {
        error: 'msg_blocks_too_long',
        detail: `blocks hold ${total} characters of text (Slack fails at about ${slackLimits.cumulativeBlockText})`,
      };
    }
  }
  if (typeof text === 'string' && text.length > slackLimits.messageText) {
    return { error: 'msg_too_long', detail: `text is ${text.length} characters (max ${slackLimits.messageText})` };
  }
  if (blocks === undefined && (typeof text !== 'string' || text.trim() === '')) {
    return { error: 'no_text', detail: 'neither text nor blocks were given' };
  }
  return undefined;
}

/** Checks a view (modal or home tab) payload. */
export function checkView(view: unknown): LimitProblem | undefined {
  if (!isObject(view)) return { error: 'invalid_arguments', detail: 'view must be a JSON object' };
  const size = Buffer.byteLength(JSON.stringify(view));
  if (size > slackLimits.viewBytes) {
    return { error: 'invalid_arguments', detail: `view is ${size} bytes (max ${slackLimits.viewBytes})` };
  }
  if (view.type !== 'modal' && view.type !== 'home') {
    return { error: 'invalid_arguments', detail: 'view.type must be modal or home' };
  }
  if (view.type === 'modal') {
    const title = textObjectProblem(view.title, 'view.title', slackLimits.viewTitle, true);
    if (title) return { error: 'invalid_arguments', detail: title };
  }
  if (typeof view.private_metadata === 'string' && view.private_metadata.length > slackLimits.privateMetadata) {
    return {
      error: 'invalid_arguments',
      detail: `view.private_metadata is longer than ${slackLimits.privateMetadata}`,
    };
  }
  if (typeof view.callback_id === 'string' && view.callback_id.length > slackLimits.callbackId) {
    return { error: 'invalid_arguments', detail: `view.callback_id is longer than ${slackLimits.callbackId}` };
  }
  return checkBlocks(view.blocks ?? [], slackLimits.blocksPerView);
}
