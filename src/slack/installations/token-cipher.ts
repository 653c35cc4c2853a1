/**
 * Encryption at rest for Slack installations (OAuth mode): AES-256-GCM from node:crypto, with a key ring so keys
 * can be rotated without a migration window. Why this shape:
 * - GCM authenticates as well as encrypts: a record altered in Redis, or decrypted with the wrong key, fails
 *   instead of yielding a wrong token. The record's Redis key is bound in as additional authenticated data, so
 *   one workspace's record copied under another workspace's key does not decrypt either.
 * - Each record names the key id (`kid`) it was written with. New writes use the ring's first key; reads pick the
 *   key by id, so records written before a rotation still read, and the store rewrites them with the first key
 *   (redis-installation-store.ts). A record whose key id is no longer in the ring fails closed with a message
 *   saying which key is missing.
 * - A fresh 96-bit random IV per record (the GCM standard size); the key never leaves this module.
 *
 * Keys come from `INSTALLATION_ENCRYPTION_KEYS` (`kid1:base64,kid2:base64`, first one encrypts) or
 * `INSTALLATION_ENCRYPTION_KEY` (one base64 key, id `k1`); each decodes to exactly 32 bytes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DeskhandError } from '../../errors.ts';

const algorithm = 'aes-256-gcm';
const ivBytes = 12;
const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;
/** 32 bytes in standard base64: 43 characters and one `=` of padding (optional). */
const keyPattern = /^[A-Za-z0-9+/]{43}=?$/;

/** What is stored: the key id, IV, GCM tag and ciphertext (base64). Contains no plaintext. */
export interface SealedRecord {
  v: 1;
  kid: string;
  iv: string;
  tag: string;
  data: string;
}

export interface KeyRing {
  /** The key new records are written with. */
  readonly primaryKeyId: string;
  has(keyId: string): boolean;
  key(keyId: string): Buffer | undefined;
}

/** The problem with a key ring specification, or undefined when it is valid (used by configuration). */
export function keyRingProblem(specification: string): string | undefined {
  try {
    parseKeyRing(specification);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Parses `kid:base64,kid:base64` (or one bare base64 key, id `k1`) into a key ring; throws a `configuration`
 * error naming the bad entry (never its value).
 */
export function parseKeyRing(specification: string): KeyRing {
  const entries = specification
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw configurationError('no key given');
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, position) => {
    const separator = entry.indexOf(':');
    const keyId = separator < 0 && entries.length === 1 ? 'k1' : entry.slice(0, Math.max(separator, 0));
    const encoded = separator < 0 ? entry : entry.slice(separator + 1);
    if (!keyIdPattern.test(keyId)) {
      throw configurationError(`entry ${position + 1} needs a key id (letters, digits, _ or -) before ':'`);
    }
    if (keys.has(keyId)) throw configurationError(`key id ${keyId} appears twice`);
    const key = Buffer.from(encoded, 'base64');
    if (!keyPattern.test(encoded) || key.length !== 32) {
      throw configurationError(`key ${keyId} must be 32 bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
    }
    keys.set(keyId, key);
  });
  const primaryKeyId = [...keys.keys()][0] as string;
  return { primaryKeyId, has: (keyId) => keys.has(keyId), key: (keyId) => keys.get(keyId) };
}

/** Encrypts `plaintext` with the ring's first key; `context` (the record's Redis key) is authenticated too. */
export function seal(ring: KeyRing, plaintext: string, context: string): SealedRecord {
  const key = ring.key(ring.primaryKeyId) as Buffer;
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv(algorithm, key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    v: 1,
    kid: ring.primaryKeyId,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

/**
 * Decrypts a record written by `seal` with the same `context`. Fails closed with a `configuration` error when
 * its key is not in the ring, or when the key, the context or the record does not match (GCM tag check).
 */
export function open(ring: KeyRing, record: SealedRecord, context: string): string {
  const key = ring.key(record.kid);
  if (!key) {
    throw new DeskhandError('configuration', `installation record encrypted with unknown key id ${record.kid}`, {
      userMessage: `Deskhand cannot read this workspace's installation: it was encrypted with key "${record.kid}", which is not in INSTALLATION_ENCRYPTION_KEYS. An admin has to add that key back.`,
      details: { keyId: record.kid },
    });
  }
  try {
    const decipher = createDecipheriv(algorithm, key, Buffer.from(record.iv, 'base64'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(record.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(record.data, 'base64')), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new DeskhandError('configuration', `installation record does not decrypt with key ${record.kid}`, {
      cause: error,
      userMessage: `Deskhand cannot read this workspace's installation: it does not decrypt with key "${record.kid}" (a different key under that id, or an altered record). An admin has to restore the key or reinstall the app.`,
      details: { keyId: record.kid },
    });
  }
}

/** Whether a parsed value has the shape of a sealed record. */
export function isSealedRecord(value: unknown): value is SealedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    record.v === 1 &&
    ['kid', 'iv', 'tag', 'data'].every((field) => typeof record[field] === 'string' && record[field] !== '')
  );
}

function configurationError(problem: string): DeskhandError {
  return new DeskhandError('configuration', `installation encryption key ring: ${problem}`, {
    userMessage: `INSTALLATION_ENCRYPTION_KEYS is invalid: ${problem}.`,
  });
}
