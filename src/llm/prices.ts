/**
 * Model prices in integer micro-dollars per million tokens, so every cost computed from them is an integer number
 * of micro-dollars (1 USD = 1 000 000 µ$). Costs round up: a budget must never undercount.
 *
 * A model missing from the table follows the `UnknownModelPolicy` (`unknown-models.ts`): a configuration error, a
 * configured fallback price, or $0 flagged as **unpriced** — never a silent $0.
 */
import { z } from 'zod';
import { DeskhandError } from '../errors.ts';
import type { ModelPrice } from './model-price.ts';
import type { UnknownModelPolicy } from './unknown-models.ts';

export type { ModelPrice };

/** Where the default table comes from and when it was read. Override any entry with `MODEL_PRICES_JSON`. */
export const defaultPricesSource = {
  url: 'https://openai.com/api/pricing/ (Standard tier)',
  checkedOn: '2025-08-07',
} as const;

const usd = (dollars: number) => Math.round(dollars * 1_000_000);
const price = (input: number, cached: number, output: number): ModelPrice => ({
  inputPerMillion: usd(input),
  cachedInputPerMillion: usd(cached),
  outputPerMillion: usd(output),
});

/** Default prices (USD per 1M tokens, converted to µ$), from `defaultPricesSource`. */
export const defaultModelPrices: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o-mini': price(0.15, 0.075, 0.6),
  'gpt-4o': price(2.5, 1.25, 10),
  'gpt-4.1': price(2, 0.5, 8),
  'gpt-4.1-mini': price(0.4, 0.1, 1.6),
  'gpt-4.1-nano': price(0.1, 0.025, 0.4),
  'gpt-5': price(1.25, 0.125, 10),
  'gpt-5-mini': price(0.25, 0.025, 2),
  'gpt-5-nano': price(0.05, 0.005, 0.4),
  o3: price(2, 0.5, 8),
  'o4-mini': price(1.1, 0.275, 4.4),
  'text-embedding-3-small': price(0.02, 0.02, 0),
  'text-embedding-3-large': price(0.13, 0.13, 0),
  'text-embedding-ada-002': price(0.1, 0.1, 0),
};

const overrideSchema = z.record(
  z.string().min(1),
  z.strictObject({
    inputPerMillionUsd: z.number().min(0),
    cachedInputPerMillionUsd: z.number().min(0).optional(),
    outputPerMillionUsd: z.number().min(0).default(0),
  }),
);

/** Problems with a `MODEL_PRICES_JSON` value, one sentence; undefined when it is valid. */
export function modelPricesProblem(overridesJson: string): string | undefined {
  try {
    parseOverrides(overridesJson);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function parseOverrides(overridesJson: string): z.infer<typeof overrideSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(overridesJson);
  } catch (error) {
    throw new DeskhandError('configuration', 'MODEL_PRICES_JSON is not valid JSON', { cause: error });
  }
  const parsed = overrideSchema.safeParse(raw);
  if (!parsed.success) {
    throw new DeskhandError(
      'configuration',
      `MODEL_PRICES_JSON is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** How a model's price was found. */
export interface PriceResolution {
  price: ModelPrice;
  /** `table`: the built-in table or `MODEL_PRICES_JSON`; `fallback`: the unknown-model policy. */
  source: 'table' | 'fallback';
  /** Set (e.g. "local server") when the model costs $0 only because no price is known: spend does not show use. */
  unpriced?: string;
}

/** Metric label of a model's pricing: `none` when the model would be refused. */
export type PricingLabel = 'table' | 'fallback' | 'unpriced' | 'none';

export interface PriceTableOptions {
  /** `MODEL_PRICES_JSON`. */
  overridesJson?: string | undefined;
  /** What a model missing from the table costs (default: it is a configuration error). */
  unknownModels?: UnknownModelPolicy;
}

/**
 * A price table: the defaults plus overrides from `MODEL_PRICES_JSON`, e.g.
 * `{"gpt-4o-mini":{"inputPerMillionUsd":0.15,"cachedInputPerMillionUsd":0.075,"outputPerMillionUsd":0.6}}`,
 * plus the policy for models it does not list. Without a policy an unlisted model is a configuration error: an
 * unpriced call could not be held to a budget.
 */
export class PriceTable {
  private readonly prices: Map<string, ModelPrice>;
  private readonly unknownModels: UnknownModelPolicy;
  private readonly resolved = new Map<string, PriceResolution>();

  /** `options` may be the `MODEL_PRICES_JSON` text alone (unknown models refused). */
  constructor(
    options: string | PriceTableOptions = {},
    base: Readonly<Record<string, ModelPrice>> = defaultModelPrices,
  ) {
    const { overridesJson, unknownModels } = typeof options === 'string' ? { overridesJson: options } : options;
    this.unknownModels = unknownModels ?? { kind: 'refuse', why: 'no price for unknown models is configured' };
    this.prices = new Map(Object.entries(base));
    if (overridesJson !== undefined && overridesJson.trim() !== '') {
      for (const [model, entry] of Object.entries(parseOverrides(overridesJson))) {
        this.prices.set(model, {
          inputPerMillion: usd(entry.inputPerMillionUsd),
          cachedInputPerMillion: usd(entry.cachedInputPerMillionUsd ?? entry.inputPerMillionUsd),
          outputPerMillion: usd(entry.outputPerMillionUsd),
        });
      }
    }
  }

  /**
   * This table with `extra` prices over it (a workspace's own prices): same unknown-model policy; an entry of
   * `extra` replaces the table's price of that model (and of its dated snapshots).
   */
  withPrices(extra: Readonly<Record<string, ModelPrice>>): PriceTable {
    return new PriceTable({ unknownModels: this.unknownModels }, { ...Object.fromEntries(this.prices), ...extra });
  }

  /**
   * The price of a model. Dated snapshots (`gpt-4o-mini-2024-07-18`, `gpt-4-0613`) and fine-tunes (`ft:gpt-4o-mini:org::id`)
   * use their base model's price; anything else (`gpt-4o-mystery`) follows the unknown-model policy, which may throw
   * `configuration`.
   */
  priceOf(model: string): ModelPrice {
    return this.resolve(model).price;
  }

  /** The price of a model and where it came from (see `priceOf`); throws `configuration` when the model is refused. */
  resolve(model: string): PriceResolution {
    const known = this.resolved.get(model);
    if (known) return known;
    const found = this.lookUp(model);
    let resolution: PriceResolution;
    if (found) resolution = { price: found, source: 'table' };
    else if (this.unknownModels.kind === 'charge') {
      const { price, unpriced } = this.unknownModels;
      resolution = { price, source: 'fallback', ...(unpriced ? { unpriced } : {}) };
    } else {
      throw new DeskhandError('configuration', `No price is configured for model "${model}"`, {
        userMessage: `Deskhand has no price for the model "${model}", so it cannot keep it within budget. An admin must add it to MODEL_PRICES_JSON (or set UNKNOWN_MODEL_PRICE).`,
        details: { model, why: this.unknownModels.why },
      });
    }
    if (this.resolved.size < 1000) this.resolved.set(model, resolution);
    return resolution;
  }

  /** Why a model is charged $0 without a known price (e.g. "local server"), or undefined. Never throws. */
  unpricedReason(model: string): string | undefined {
    try {
      return this.resolve(model).unpriced;
    } catch {
      return undefined;
    }
  }

  /** The metric label of a model's pricing. Never throws. */
  label(model: string): PricingLabel {
    try {
      const resolution = this.resolve(model);
      return resolution.unpriced ? 'unpriced' : resolution.source;
    } catch {
      return 'none';
    }
  }

  private lookUp(model: string): ModelPrice | undefined {
    const exact = this.prices.get(model);
    if (exact) return exact;
    const base = model.replace(/^ft:/, '').split(':')[0] ?? model;
    let best: string | undefined;
    for (const name of this.prices.keys()) {
      const suffix = base.slice(name.length);
      const snapshot = base.startsWith(name) && (suffix === '' || /^-\d{4}(-\d{2}-\d{2})?$/.test(suffix));
      if (snapshot && (!best || name.length > best.length)) best = name;
    }
    return best ? this.prices.get(best) : undefined;
  }

  /** Cost in µ$ of a call, rounded up. `cachedInputTokens` is the part of `inputTokens` served from prompt cache. */
  cost(model: string, usage: { inputTokens: number; cachedInputTokens?: number; outputTokens: number }): number {
    const modelPrice = this.priceOf(model);
    const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
    const numerator =
      (usage.inputTokens - cached) * modelPrice.inputPerMillion +
      cached * modelPrice.cachedInputPerMillion +
      usage.outputTokens * modelPrice.outputPerMillion;
    return Math.ceil(numerator / 1_000_000);
  }
}
