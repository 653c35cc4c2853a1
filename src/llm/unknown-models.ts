/**
 * What a model missing from the price table costs. Decided once, from `OPENAI_BASE_URL` and `UNKNOWN_MODEL_PRICE`:
 *
 * - `UNKNOWN_MODEL_PRICE=<input>,<output>` (USD per million tokens): every unknown model is charged that price;
 * - `UNKNOWN_MODEL_PRICE=none`: an unknown model is a configuration error;
 * - unset, against a local server (`isLocalHost`: loopback, private or link-local address, `localhost`, a
 *   single-label name such as a Compose service `ollama`, or a name under `.local`/`.internal`): $0, and the model
 *   is reported as **unpriced** ("local server") everywhere its spend is shown (metric label, ledger, `/budget`), so
 *   a $0 figure never passes for a real one;
 * - unset, against any other host — OpenAI (`*.openai.com`, Azure OpenAI `*.openai.azure.com`) and any hosted
 *   compatible service (OpenRouter, Groq, Together, …): a configuration error, with the same message telling the
 *   admin to set `MODEL_PRICES_JSON` or `UNKNOWN_MODEL_PRICE` — those calls cost real money, and neither a made-up
 *   price nor a silent $0 may let them pass the budgets.
 */
import type { ModelPrice } from './model-price.ts';

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

/**
 * True for hosts that are not on the public internet: loopback (`localhost`, `127.0.0.0/8`, `::1`), private and
 * link-local addresses (`10/8`, `172.16/12`, `192.168/16`, `169.254/16`, `fc00::/7`, `fe80::/10`), single-label names
 * (e.g. a Compose service named `ollama`) and names under `.local`, `.internal`, `.localhost`, `.lan`, `.home.arpa`.
 */
export function isLocalHost(baseURL: string): boolean {
  const host = hostOf(baseURL).replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  if (/\.(local|internal|lan|home\.arpa)$/.test(host)) return true;
  if (/^(127|10)\.\d+\.\d+\.\d+$/.test(host) || /^192\.168\.\d+\.\d+$/.test(host)) return true;
  if (/^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$/.test(host) || /^169\.254\.\d+\.\d+$/.test(host)) return true;
  if (/^f[cd][0-9a-f]{2}:/.test(host) || /^fe[89ab][0-9a-f]:/.test(host)) return true;
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
  if (!isLocalHost(baseURL)) return { kind: 'refuse', why: 'OPENAI_BASE_URL is a hosted service, not a local server' };
  return {
    kind: 'charge',
    price: { inputPerMillion: 0, cachedInputPerMillion: 0, outputPerMillion: 0 },
    unpriced: 'local server',
  };
}

function hostOf(baseURL: string): string {
  try {
    return new URL(baseURL).hostname.toLowerCase();
  } catch {
    return '';
  }
}
