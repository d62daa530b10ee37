import { createHash } from 'node:crypto';

/**
 * 64 bits of SHA-256 over a journal record: enough to tell a damaged record (a torn write, a
 * changed byte) from a sound one. Not a signature: who may write the journal at all is settled by
 * the state directory's ownership (state-dir.ts).
 */
export function recordChecksum(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
