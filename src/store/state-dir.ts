import { lstat, mkdir, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KnockgateConfig } from '../config/model.js';
import { KnockgateError } from '../core/knockgate-error.js';

/**
 * The state directory holds what the daemon acts on after a restart (pending stop commands,
 * replay digests, spent knock steps), so whoever can write it can make the daemon act. It must be
 * a real directory (not a link), owned by the daemon's user, writable by nobody else, and every
 * directory above it must keep others from replacing it (owned by root or the daemon's user, and
 * writable by others only with the sticky bit, as /tmp is).
 */
export class StateDirError extends KnockgateError {
  readonly code = 'store.untrusted-dir';
  constructor(
    message: string,
    readonly dir: string,
  ) {
    super(message);
    this.name = 'StateDirError';
  }
}

const STICKY = 0o1000;

/** Creates the directory (0700) when it is missing, then refuses it unless it is trustworthy. */
export async function ensureTrustedDir(dir: string, what = 'state_dir', uid = process.geteuid?.() ?? 0): Promise<void> {
  await assertTrustedParents(dir, what, uid);
  let info = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    info = await lstat(dir);
  }
  if (info.isSymbolicLink()) {
    const target = await realpath(dir).catch(() => 'a missing path');
    throw new StateDirError(`${what} ${dir} is a symbolic link (to ${target}); knockgate does not follow one for its state. Set ${what} to the real directory`, dir);
  }
  if (!info.isDirectory()) throw new StateDirError(`${what} ${dir} is not a directory; move it aside and let knockgate create the directory`, dir);
  if (info.uid !== uid) {
    throw new StateDirError(
      `${what} ${dir} is owned by uid ${info.uid}, not by the daemon's user (uid ${uid}): whoever owns it can plant state the daemon acts on. Check what is in it, then run chown ${uid} ${dir} (or remove it and let knockgate create it)`,
      dir,
    );
  }
  if ((info.mode & 0o022) !== 0) {
    throw new StateDirError(`${what} ${dir} is writable by ${info.mode & 0o002 ? 'every user' : 'its group'} (mode ${(info.mode & 0o7777).toString(8)}): run chmod 0700 ${dir}`, dir);
  }
}

/** Read-only form for `knockgate check`: the problem, or undefined; a missing directory is fine if its parents are. */
export async function stateDirProblem(dir: string, what = 'state_dir', uid = process.geteuid?.() ?? 0): Promise<string | undefined> {
  try {
    const exists = await lstat(dir).then(
      () => true,
      () => false,
    );
    if (exists) await ensureTrustedDir(dir, what, uid);
    else await assertTrustedParents(dir, what, uid);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Each existing directory above `dir` (links resolved, as the kernel walks them) must keep others from renaming `dir` away. */
async function assertTrustedParents(dir: string, what: string, uid: number): Promise<void> {
  let parent = dirname(dir);
  // The nearest existing ancestor: missing ones will be created by us, 0700.
  for (;;) {
    const exists = await lstat(parent).then(
      () => true,
      () => false,
    );
    if (exists || parent === dirname(parent)) break;
    parent = dirname(parent);
  }
  let real = await realpath(parent);
  for (;;) {
    const info = await lstat(real);
    if (info.uid !== 0 && info.uid !== uid) {
      throw new StateDirError(`${what} ${dir}: the directory above it, ${real}, is owned by uid ${info.uid}, who could replace the state directory. Put ${what} under a directory owned by root`, dir);
    }
    if ((info.mode & 0o022) !== 0 && (info.mode & STICKY) === 0) {
      throw new StateDirError(`${what} ${dir}: the directory above it, ${real}, is writable by others without the sticky bit (mode ${(info.mode & 0o7777).toString(8)}), so another user could replace the state directory. Run chmod go-w ${real} or choose another ${what}`, dir);
    }
    const up = dirname(real);
    if (up === real) return;
    real = up;
  }
}

/** Directories whose content the daemon acts on after a restart: the state dir, and the replay file's directory when it lives elsewhere. */
export function stateDirsOf(config: KnockgateConfig): Array<{ dir: string; what: string }> {
  const dirs = [{ dir: config.daemon.stateDir, what: 'state_dir' }];
  const replay = config.spa?.replay;
  if (replay?.kind === 'file' && dirname(replay.path) !== config.daemon.stateDir) dirs.push({ dir: dirname(replay.path), what: 'the SPA replay file directory' });
  return dirs;
}

/** Every state directory problem of a config, for `check` (empty when all is well). */
export async function stateProblems(config: KnockgateConfig): Promise<string[]> {
  const problems = await Promise.all(stateDirsOf(config).map(({ dir, what }) => stateDirProblem(dir, what)));
  return problems.filter((p): p is string => p !== undefined);
}
