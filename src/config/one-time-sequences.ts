import { open, readFile } from 'node:fs/promises';
import type { OneTimeSequence } from '../core/door-schedule.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { parseKnockSequence } from './knock-syntax.js';
import type { KnockgateConfig } from './model.js';

/**
 * knockd's one_time_sequences file: one sequence per line (the Sequence syntax), `#` lines are
 * comments. A used line gets its first byte overwritten with `#`, in place, exactly as knockd does
 * (hence knockd's advice to start each line with a space), so knockd and knockgate can share one
 * file and agree on what is spent.
 */

/** A file of sequences larger than this is not a hand-made list. */
export const MAX_ONE_TIME_FILE_BYTES = 1024 * 1024;

export function parseOneTimeSequences(text: string, file: string): OneTimeSequence[] {
  const problems: ConfigProblem[] = [];
  const out: OneTimeSequence[] = [];
  text.split('\n').forEach((raw, line) => {
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    const steps = parseKnockSequence(content);
    if (steps.ok) out.push({ line, steps: steps.value });
    else problems.push({ line: line + 1, message: steps.error });
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return out;
}

/** Fills every one-time door of `config` with the unused sequences of its file. */
export async function withOneTimeSequences(config: KnockgateConfig): Promise<KnockgateConfig> {
  for (const door of config.doors) {
    const source = door.sequenceSource;
    if (source?.kind !== 'one-time') continue;
    let text: string;
    try {
      const buf = await readFile(source.file);
      if (buf.length > MAX_ONE_TIME_FILE_BYTES) throw new Error(`is ${buf.length} bytes; at most ${MAX_ONE_TIME_FILE_BYTES}`);
      text = buf.toString('utf8');
    } catch (err) {
      throw new ConfigError(source.file, [{ field: `${door.knock.name}.one_time_sequences`, message: `cannot be used: ${(err as Error).message}` }]);
    }
    source.unused = parseOneTimeSequences(text, source.file);
    if (source.unused.length === 0) throw new ConfigError(source.file, [{ field: `${door.knock.name}.one_time_sequences`, message: 'has no unused sequence left; add lines or remove the door' }]);
  }
  return config;
}

/** Marks 0-based `line` of `file` used: its first byte becomes `#`, nothing else moves. */
export async function markSequenceUsed(file: string, line: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const text = (await handle.readFile()).toString('utf8');
    let offset = 0;
    const lines = text.split('\n');
    if (line >= lines.length) throw new Error(`${file} has no line ${line + 1} any more`);
    for (let i = 0; i < line; i++) offset += Buffer.byteLength(lines[i]!, 'utf8') + 1;
    await handle.write('#', offset, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
