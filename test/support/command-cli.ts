import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabHost } from '../../src/lab/netns.js';

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(REPO, 'test/fixtures/command-cli.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Added to the environment (e.g. HOME, so nothing touches the real home directory). */
  env?: NodeJS.ProcessEnv;
}

export interface CommandCli {
  /** Run `knockgate COMMAND ARGS`, inside the host's namespace if one is given; never throws on a non-zero exit. */
  run(host: LabHost | undefined, args: string[], opts?: RunOptions): Promise<CliResult>;
  /** Remove the private build. */
  dispose(): Promise<void>;
}

/**
 * Compile one CLI command (and only what it imports) into a private directory under dist/, so
 * test files running in parallel, or another engineer's `npm run build`, never rewrite the files
 * this one is loading. `command` is the file name under src/cli/commands (`knock`, `spa`, …).
 */
export async function buildCommandCli(command: string): Promise<CommandCli> {
  const out = join(REPO, 'dist', `.test-${command}-${randomBytes(4).toString('hex')}`);
  await mkdir(out, { recursive: true });
  const tsconfig = {
    extends: '../../tsconfig.build.json',
    compilerOptions: { rootDir: '../../src', outDir: '.', sourceMap: false },
    files: [`../../src/cli/commands/${command}.ts`],
    include: [],
  };
  await writeFile(join(out, 'tsconfig.json'), JSON.stringify(tsconfig));
  try {
    await execFileAsync(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(out, 'tsconfig.json')], { cwd: REPO, timeout: 60_000 });
  } catch (e) {
    await rm(out, { recursive: true, force: true });
    const err = e as { stdout?: string; message: string };
    throw new Error(`building the ${command} command failed: ${err.stdout || err.message}`);
  }
  return {
    async run(host, args, opts = {}) {
      const argv = [process.execPath, FIXTURE, command, ...args];
      const [cmd, ...rest] = host ? ['ip', 'netns', 'exec', host.ns, ...argv] : argv;
      try {
        const { stdout, stderr } = await execFileAsync(cmd!, rest, {
          env: { ...process.env, ...opts.env, KNOCKGATE_DIST: out, KNOCKGATE_COMMAND: command },
          timeout: opts.timeoutMs ?? 20_000,
        });
        return { code: 0, stdout, stderr };
      } catch (e) {
        const err = e as { code?: number | string; stdout?: string; stderr?: string };
        if (typeof err.code !== 'number') throw e;
        return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      }
    },
    dispose: () => rm(out, { recursive: true, force: true }),
  };
}
