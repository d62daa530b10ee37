import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The repository root. */
export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const VERSION = (JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string }).version;

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell) from the repository root; never throws on a non-zero exit. */
export async function runCommand(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { cwd: opts.cwd ?? REPO, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20, env: opts.env ?? process.env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr || err.message };
  }
}

/**
 * Runs packaging/<what>/build.sh with its output in `releaseDir` (not the repository's release/,
 * which may hold a release built by hand), plus `env`.
 */
export async function buildPackage(what: 'deb' | 'client' | 'lambda', releaseDir: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return mustRun('bash', [`packaging/${what}/build.sh`], { timeoutMs: 10 * 60_000, env: { ...process.env, ...env, KNOCKGATE_RELEASE_DIR: releaseDir } });
}

/** Like runCommand, but a non-zero exit throws with what the command printed. */
export async function mustRun(cmd: string, args: string[], opts: Parameters<typeof runCommand>[2] = {}): Promise<Ran> {
  const ran = await runCommand(cmd, args, opts);
  if (ran.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${ran.code}:\n${ran.stderr}\n${ran.stdout}`.trim());
  return ran;
}
