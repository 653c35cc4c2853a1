/**
 * The settings modal's "Prices" field: one model a line, `model input,output` in USD per million tokens (e.g.
 * `gpt-4o-mini 0.15,0.6`), parsed strictly into `WorkspaceSettings['prices']`, and shown back the same way.
 *
 * Guarantees:
 * - Bounded: the text is cut at `maxPricesText` characters before it is split, at most `maxWorkspacePrices` lines
 *   count, each line at most 200 characters; the patterns are linear.
 * - Strict: a line that is not `model input,output`, a price above `maxUsdPerMillionTokens`, or a model named twice
 *   is an error naming the line (one message for the field, Slack shows one per block).
 * - Empty text means "no workspace prices" (the process's table alone).
 */
import {
  maxUsdPerMillionTokens,
  maxWorkspacePrices,
  modelNamePattern,
  type WorkspaceModelPrice,
} from '../../ports/workspace-settings.ts';

export const maxPricesText = 3_000;
const linePattern = /^(\S{1,100})\s+(\d{1,6}(?:\.\d{1,6})?)\s*,\s*(\d{1,6}(?:\.\d{1,6})?)$/;

export type PricesParse =
  | { kind: 'valid'; prices: Record<string, WorkspaceModelPrice> | undefined }
  | { kind: 'invalid'; message: string };

export function parseWorkspacePrices(raw: string | undefined): PricesParse {
  const lines = (raw ?? '')
    .slice(0, maxPricesText)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  if (lines.length === 0) return { kind: 'valid', prices: undefined };
  if (lines.length > maxWorkspacePrices)
    return { kind: 'invalid', message: `At most ${maxWorkspacePrices} models (${lines.length} lines given).` };
  const prices: Record<string, WorkspaceModelPrice> = {};
  for (const [index, line] of lines.entries()) {
    const where = `Line ${index + 1} (“${line.slice(0, 40)}${line.length > 40 ? '…' : ''}”)`;
    const match = line.length <= 200 ? linePattern.exec(line) : null;
    const [, model = '', input = '', output = ''] = match ?? [];
    if (!match) return { kind: 'invalid', message: `${where}: write “model input,output”, e.g. gpt-4o-mini 0.15,0.6.` };
    if (!modelNamePattern.test(model))
      return { kind: 'invalid', message: `${where}: a model name uses letters, digits and . _ : / - only.` };
    if (Object.hasOwn(prices, model)) return { kind: 'invalid', message: `${where}: ${model} is priced twice.` };
    const price = { inputUsdPerMillion: Number(input), outputUsdPerMillion: Number(output) };
    if (price.inputUsdPerMillion > maxUsdPerMillionTokens || price.outputUsdPerMillion > maxUsdPerMillionTokens)
      return { kind: 'invalid', message: `${where}: at most $${maxUsdPerMillionTokens} per million tokens.` };
    prices[model] = price;
  }
  return { kind: 'valid', prices };
}

/** The field's text for stored prices (what `parseWorkspacePrices` reads back to the same value). */
export function formatWorkspacePrices(prices: Readonly<Record<string, WorkspaceModelPrice>> | undefined): string {
  return Object.entries(prices ?? {})
    .map(([model, price]) => `${model} ${price.inputUsdPerMillion},${price.outputUsdPerMillion}`)
    .join('\n');
}
