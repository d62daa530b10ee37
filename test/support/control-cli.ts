import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI } from '../../src/lab/lab-demo.js';
import type { CliResult } from './command-cli.js';

/** `knockgate ARGS` from the built CLI on the host (the control socket is a file, no namespace needed); never throws on a non-zero exit. */
export async function knockgateCli(args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
