import { pino } from 'pino';
import type { Family } from '../../src/core/packet.js';
import { grantId, type Grant } from '../../src/core/grant.js';

/** A pino logger whose lines the test can read back as objects. */
export function captureLogger(level = 'info'): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level, base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

/** A one-second grant of `door` for `src`, as the daemon would hand a command gate. */
export function testGrant(door: string, src: string, family: Family = 4): Grant {
  return { id: grantId(door, src), door, src, family, ports: [], grantedAt: Date.now(), expiresAt: Date.now() + 1_000 };
}
