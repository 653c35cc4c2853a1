/**
 * What a model missing from the price table costs. Decided once, from `OPENAI_BASE_URL` and `UNKNOWN_MODEL_PRICE`:
 *
 * - `UNKNOWN_MODEL_PRICE=<input>,<output>` (USD per million tokens): every unknown model is charged that price;
 * - `UNKNOWN_MODEL_PRICE=none`: an unknown model is a configuration error;
 * - unset, against OpenAI (`*.openai.com`, or Azure OpenAI `*.openai.azure.com`): a configuration error — those
 *   calls cost real money and a made-up price would let them pass the budgets;
 * - unset, against any other (local or OpenAI-compatible) server: $0, and the model is reported as **unpriced**
 *   everywhere its spend is shown (metric label, ledger, `/budget`), so a $0 figure never passes for a real one.
 */
import type { ModelPrice } from './prices.ts';

/** The parsed `UNKNOWN_MODEL_PRICE`: a price in USD per million tokens, or `none`. */
export type UnknownModelPriceSetting = 'none' | { inputPerMillionUsd: number; outputPerMillionUsd: number };

export type UnknownModelPolicy =
  /** Unknown models are a configuration error; `why` completes "… because <why>" in logs. */
  | { kind: 'refuse'; why: string }
  /**
   * Unknown models are charged `price`. `unpriced` is set when that price is $0 only because nothing is known
   * (e.g. "local server"): spend then shows $0 whatever is used, and every report must say so.
   */
  | { kind: 'charge'; price: ModelPrice; unpriced?: string };

const usdPattern = String.raw`\d{1,6}(?:\.\d{1,6})?`;

/** The accepted `UNKNOWN_MODEL_PRICE` syntax: `none` or `input,output` in USD per million tokens. */
export const unknownModelPricePattern = new RegExp(`^(?:none|${usdPattern}\\s*,\\s*${usdPattern})$`, 'i');

/** Parses a value that matches `unknownModelPricePattern`. */
export function parseUnknownModelPrice(value: string): UnknownModelPriceSetting {
  if (value.trim().toLowerCase() === 'none') return 'none';
  const [input = '', output = ''] = value.split(',').map((part) => part.trim());
  return { inputPerMillionUsd: Number(input), outputPerMillionUsd: Number(output) };
}

/** True for OpenAI's own API hosts (any region) and Azure OpenAI: servers where every token is billed. */
export function isOpenAIHost(baseURL: string): boolean {
  const host = hostOf(baseURL);
  return host === 'openai.com' || host.endsWith('.openai.com') || host.endsWith('.openai.azure.com');
}

/** True for loopback, private-network, link-local and single-label hosts (e.g. a Compose service named `ollama`). */
export function isLocalHost(baseURL: string): boolean {
  const host = hostOf(baseURL).replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  if (/\.(local|internal|lan|home\.arpa)$/.test(host)) return true;
  if (/^(127|10)\.\d+\.\d+\.\d+$/.test(host) || /^192\.168\.\d+\.\d+$/.test(host)) return true;
  if (/^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$/.test(host) || /^169\.254\.\d+\.\d+$/.test(host)) return true;
  if (/^f[cd][0-9a-f]{2}:/.test(host) || /^fe80:/.test(host)) return true;
  return host !== '' && !host.includes('.') && !host.includes(':');
}

/** The policy for unknown models given the provider's base URL and the (parsed) `UNKNOWN_MODEL_PRICE`. */
export function unknownModelPolicy(baseURL: string, setting: UnknownModelPriceSetting | undefined): UnknownModelPolicy {
  if (setting === 'none') return { kind: 'refuse', why: 'UNKNOWN_MODEL_PRICE is none' };
  if (setting) {
    const micro = (usd: number) => Math.round(usd * 1_000_000);
    const price = {
      inputPerMillion: micro(setting.inputPerMillionUsd),
      cachedInputPerMillion: micro(setting.inputPerMillionUsd),
      outputPerMillion: micro(setting.outputPerMillionUsd),
    };
    const free = price.inputPerMillion === 0 && price.outputPerMillion === 0;
    return { kind: 'charge', price, ...(free ? { unpriced: 'UNKNOWN_MODEL_PRICE is 0' } : {}) };
  }
  if (isOpenAIHost(baseURL)) return { kind: 'refuse', why: 'OPENAI_BASE_URL is an OpenAI API' };
  return {
    kind: 'charge',
    price: { inputPerMillion: 0, cachedInputPerMillion: 0, outputPerMillion: 0 },
    unpriced: isLocalHost(baseURL) ? 'local server' : 'compatible server',
  };
}

function hostOf(baseURL: string): string {
  try {
    return new URL(baseURL).hostname.toLowerCase();
  } catch {
    return '';
  }
}
