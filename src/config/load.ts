import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from './config-error.js';
import { withFwknopSpa, type FwknopSources } from './fwknop-load.js';
import { parseKnockdConf } from './knockd-conf.js';
import { withOneTimeSequences } from './one-time-sequences.js';
import { MAX_CONFIG_BYTES, parseKnockgateToml } from './knockgate-toml.js';
import type { KnockgateConfig } from './model.js';
import { keyFileModeProblem } from './spa-key-checks.js';

/** Where the configuration comes from: a knockgate TOML file or a knockd.conf, at most one of them, plus fwknop's files. */
export interface ConfigSources extends FwknopSources {
  config?: string | undefined;
  knockdConf?: string | undefined;
  /**
   * `serve --state-dir`: the state directory instead of the config's, applied before any state
   * file's path is derived from it (the SPA replay journal's too), so all of them move.
   */
  stateDir?: string | undefined;
}

/** The name messages give the embedded default, which has no file. */
export const DEFAULT_CONFIG_NAME = '(built-in default)';

/** What runs with neither --config nor --knockd-conf: knockd's classic example door. */
export const DEFAULT_CONFIG_TOML = `# knockgate's built-in default: knock 7000, 8000, 9000 (TCP SYN) to open SSH for 30 seconds.
[door.ssh]
sequence = ["7000:tcp", "8000:tcp", "9000:tcp"]
open = ["22/tcp"]
open_for = "30s"
`;

/** Reads and validates the configuration; throws ConfigError naming file, line and field of every problem. */
export async function loadConfig(sources: ConfigSources): Promise<KnockgateConfig> {
  const config = await withOneTimeSequences(await withFwknopSpa(await loadBase(sources), sources, readConfigText));
  const keyFile = config.spa?.keysInlineIn;
  const modeProblem = keyFile === undefined ? undefined : keyFileModeProblem(keyFile);
  if (modeProblem) throw new ConfigError(keyFile!, [{ message: modeProblem }]);
  return config;
}

async function loadBase(sources: ConfigSources): Promise<KnockgateConfig> {
  const { config, knockdConf } = sources;
  const spaDoorsElsewhere = sources.fwknopAccess !== undefined;
  if (config !== undefined && knockdConf !== undefined) {
    throw new ConfigError(config, [{ message: `given together with --knockd-conf ${knockdConf}; use one config file, either knockgate TOML or knockd.conf` }]);
  }
  const { stateDir } = sources;
  if (knockdConf !== undefined) {
    // A knockd.conf has no state setting and no SPA: the directory is the only path to move.
    const parsed = parseKnockdConf(await readConfigText(knockdConf), knockdConf);
    return stateDir === undefined ? parsed : { ...parsed, daemon: { ...parsed.daemon, stateDir } };
  }
  if (config !== undefined) return parseToml(await readConfigText(config), config, spaDoorsElsewhere, stateDir);
  // An access.conf alone brings its own doors; the default knock door would open a second way in.
  if (spaDoorsElsewhere) return { ...parseKnockgateToml(DEFAULT_CONFIG_TOML, DEFAULT_CONFIG_NAME, { stateDir }), doors: [] };
  return parseKnockgateToml(DEFAULT_CONFIG_TOML, DEFAULT_CONFIG_NAME, { stateDir });
}

// knockd.conf's global section, alone on its line; knockgate TOML has no [options] table.
const KNOCKD_OPTIONS_HEADER = /^[ \t]*\[options\][ \t]*$/m;

/** A knockd.conf given as TOML fails on its first line without "="; one pointer helps more. */
function parseToml(text: string, file: string, spaDoorsElsewhere: boolean, stateDir: string | undefined): KnockgateConfig {
  try {
    return parseKnockgateToml(text, file, { spaDoorsElsewhere, stateDir });
  } catch (err) {
    if (!(err instanceof ConfigError) || !KNOCKD_OPTIONS_HEADER.test(text)) throw err;
    throw new ConfigError(file, [{ message: 'has an [options] section: it looks like a knockd.conf, not knockgate TOML; check it with --knockd-conf instead' }, ...err.problems]);
  }
}

/** The text of a config file, refused before it is read if it is not a regular file of bounded size. */
export async function readConfigText(file: string): Promise<string> {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ConfigError(file, [{ message: 'is not a regular file' }]);
    if (info.size > MAX_CONFIG_BYTES) {
      throw new ConfigError(file, [{ message: `is ${info.size} bytes; a config file is at most ${MAX_CONFIG_BYTES} bytes` }]);
    }
    return await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(file, [{ message: `cannot be read: ${(err as Error).message}` }]);
  }
}
