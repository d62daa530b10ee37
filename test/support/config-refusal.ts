import { ConfigError } from '../../src/config/config-error.js';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';

/** The ConfigError knockgate TOML `text` is refused with (as file `k.toml`); throws if it is accepted. */
export function configRefusal(text: string): ConfigError {
  try {
    parseKnockgateToml(text, 'k.toml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('the config was accepted');
}
