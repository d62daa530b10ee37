import { createRequire } from 'node:module';
import type { HmacScreenFactory } from '../core/spa/index.js';

const require = createRequire(import.meta.url);

/**
 * The capture addon's HMAC screen, which checks every stanza's HMAC of a packet in one native call;
 * undefined where the addon is not installed (the laptop client, the Lambda bundle), and each
 * stanza's codec checks its own key there, at ~4 µs a stanza instead of ~0.3.
 */
export function nativeHmacScreen(): HmacScreenFactory | undefined {
  let addon: typeof import('knockgate-capture');
  try {
    addon = require('knockgate-capture') as typeof import('knockgate-capture');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw e;
  }
  const Screen = addon.HmacScreen;
  return (keys, prefix) => new Screen([...keys], prefix);
}
