/**
 * The OAuth distribution part of the configuration (config.ts reads it into `slack.oauth`): Bolt's conventional
 * `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`, `SLACK_STATE_SECRET` — all three or none — and the key that encrypts
 * installations at rest, `INSTALLATION_ENCRYPTION_KEYS` (`kid:base64,…`, the first encrypts, the others still
 * decrypt: rotation) or `INSTALLATION_ENCRYPTION_KEY` (one key, id `k1`). With none of the three set, Deskhand runs
 * for the one workspace of `SLACK_BOT_TOKEN`. Kept apart so config.ts stays one screenful per concern.
 */
import { z } from 'zod';
import { keyRingProblem } from '../slack/installations/token-cipher.ts';

const emptyAsUnset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const keyRing = (toSpecification: (value: string) => string) =>
  z.preprocess(
    emptyAsUnset,
    z
      .string()
      .optional()
      .superRefine((value, context) => {
        const problem = value === undefined ? undefined : keyRingProblem(toSpecification(value));
        if (problem) {
          context.addIssue({ code: 'custom', message: problem.replace(/^installation encryption key ring: /, '') });
        }
      }),
  );

/** Spread into config.ts's schema. */
export const oauthSchemaFields = {
  SLACK_CLIENT_ID: z.preprocess(emptyAsUnset, z.string().optional()),
  SLACK_CLIENT_SECRET: z.preprocess(emptyAsUnset, z.string().optional()),
  SLACK_STATE_SECRET: z.preprocess(emptyAsUnset, z.string().min(16, 'looks too short (use 16+ characters)').optional()),
  SLACK_OAUTH_REDIRECT_URI: z.preprocess(emptyAsUnset, z.url().optional()),
  INSTALLATION_ENCRYPTION_KEYS: keyRing((value) => value),
  INSTALLATION_ENCRYPTION_KEY: keyRing((value) => `k1:${value}`),
};

export const oauthHints: Record<string, string> = {
  SLACK_STATE_SECRET: 'a long random string (e.g. openssl rand -hex 32), used to sign the OAuth state',
  SLACK_OAUTH_REDIRECT_URI: 'your https://YOUR-HOST/slack/oauth_redirect, as listed in the app’s redirect URLs',
  INSTALLATION_ENCRYPTION_KEYS:
    'key-id:base64 entries separated by commas, each key 32 bytes (openssl rand -base64 32); the first encrypts',
  INSTALLATION_ENCRYPTION_KEY: 'one 32-byte key in base64 (openssl rand -base64 32)',
};

type OAuthRaw = { SLACK_BOT_TOKEN?: string | undefined; SLACK_APP_TOKEN?: string | undefined } & {
  [name in keyof typeof oauthSchemaFields]?: string | undefined;
};

export interface OAuthConfiguration {
  clientId: string;
  clientSecret: string;
  stateSecret: string;
  /** `SLACK_OAUTH_REDIRECT_URI`, when the app has more than one redirect URL configured. */
  redirectUri: string | undefined;
  /** The key ring specification (`INSTALLATION_ENCRYPTION_KEYS`, or `k1:` + `INSTALLATION_ENCRYPTION_KEY`). */
  encryptionKeys: string;
}

const oauthVariables = ['SLACK_CLIENT_ID', 'SLACK_CLIENT_SECRET', 'SLACK_STATE_SECRET'] as const;

/** OAuth distribution needs all three credentials and an encryption key; single-token mode needs the bot token. */
export function oauthProblems(raw: OAuthRaw): string[] {
  const set = oauthVariables.filter((name) => raw[name] !== undefined);
  if (set.length === 0) {
    return raw.SLACK_BOT_TOKEN
      ? []
      : [
          'SLACK_BOT_TOKEN is required but not set — set it to the Bot User OAuth Token (xoxb-…) from your Slack app’s "OAuth & Permissions" page, or set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET to install Deskhand in many workspaces through OAuth.',
        ];
  }
  const problems: string[] = [];
  if (set.length < oauthVariables.length) {
    const missing = oauthVariables.filter((name) => raw[name] === undefined).join(' and ');
    problems.push(
      `${missing} must be set too: OAuth distribution needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (from your Slack app’s "Basic Information" page) and SLACK_STATE_SECRET (a long random string), or none of them for single-token mode.`,
    );
  }
  if (raw.SLACK_APP_TOKEN) {
    problems.push(
      'SLACK_APP_TOKEN must be unset with OAuth distribution — workspaces install through GET /slack/install, which Deskhand serves over HTTP only; leave SLACK_APP_TOKEN empty and expose PORT over HTTPS.',
    );
  }
  if (!raw.INSTALLATION_ENCRYPTION_KEYS && !raw.INSTALLATION_ENCRYPTION_KEY) {
    problems.push(
      'INSTALLATION_ENCRYPTION_KEY (or INSTALLATION_ENCRYPTION_KEYS) is required with OAuth distribution — installations and their tokens are stored encrypted; set it to a 32-byte key in base64 (openssl rand -base64 32).',
    );
  }
  return problems;
}

/** The OAuth settings, or undefined in single-token mode (call after `oauthProblems` found none). */
export function oauthConfiguration(raw: OAuthRaw): OAuthConfiguration | undefined {
  if (!raw.SLACK_CLIENT_ID || !raw.SLACK_CLIENT_SECRET || !raw.SLACK_STATE_SECRET) return undefined;
  return {
    clientId: raw.SLACK_CLIENT_ID,
    clientSecret: raw.SLACK_CLIENT_SECRET,
    stateSecret: raw.SLACK_STATE_SECRET,
    redirectUri: raw.SLACK_OAUTH_REDIRECT_URI,
    encryptionKeys:
      raw.INSTALLATION_ENCRYPTION_KEYS ??
      (raw.INSTALLATION_ENCRYPTION_KEY ? `k1:${raw.INSTALLATION_ENCRYPTION_KEY}` : ''),
  };
}
