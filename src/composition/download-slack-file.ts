/**
 * Downloads a Slack file (`url_private`) with the bot token, refusing anything larger than `maxBytes` while it
 * streams — the declared size is not trusted. Hand-written: a bounded authenticated GET is all this needs.
 */
import { DeskhandError } from '../errors.ts';

export async function downloadSlackFile(url: string, botToken: string, maxBytes: number): Promise<Uint8Array> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${botToken}` },
    signal: AbortSignal.timeout(60_000),
  });
  if (!response.ok || !response.body) {
    throw new DeskhandError('upstream_unavailable', `file download failed with HTTP ${response.status}`, {
      userMessage: 'I could not download that file from Slack.',
    });
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new DeskhandError('input_too_large', `file larger than ${maxBytes} bytes`, {
        userMessage: `That file is larger than the ${Math.round(maxBytes / 1024 / 1024)} MB limit.`,
      });
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
