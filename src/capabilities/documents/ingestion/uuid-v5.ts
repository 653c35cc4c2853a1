/**
 * RFC 9562 name-based UUIDs (version 5, SHA-1). Hand-written on node:crypto rather than adding the `uuid`
 * package: it is twelve lines, has one test vector to pin it, and nothing else here needs that package.
 */
import { createHash } from 'node:crypto';

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`Not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** The version-5 UUID of `name` in `namespace` (itself a UUID); the same inputs always give the same id. */
export function uuidV5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Namespaces for Deskhand's ids (random constants, fixed forever: changing one re-keys every stored point). */
export const documentIdNamespace = '5b0f9c9e-3f0a-4a0e-9d5e-6a2f4f0c8d11';
export const chunkIdNamespace = 'c3a1e7d2-8b4f-4e61-a0b9-2d7e5f3c9a40';
