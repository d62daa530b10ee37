import { chmodSync, closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KnockgateError } from '../core/knockgate-error.js';

/**
 * Opening the daemon's own files without trusting the path: never through a symbolic link
 * (O_NOFOLLOW), never a file another user owns or can write, never a second hard link. The
 * daemon runs as root or with CAP_NET_ADMIN; a link planted where it writes would otherwise let
 * whoever planted it truncate, append to or chmod any file on the host.
 */

/** Linux's O_PATH (not in Node's fs.constants): an fd naming a file without opening it, so sockets and links can be inspected. */
const O_PATH = 0o10_000_000;

/** A file the daemon refuses to use, with what the operator should do about it. */
export class UnsafeFileError extends KnockgateError {
  readonly code = 'store.unsafe-file';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'UnsafeFileError';
  }
}

export interface OwnerRule {
  /** The uid that must own the file (the daemon's effective uid by default). */
  uid?: number;
  /** Whether a root-owned file is acceptable too (log files an operator created by hand). */
  rootMayOwn?: boolean;
}

/** Whether `err` is the ELOOP that O_NOFOLLOW raises for a symbolic link. */
function linkRefusal(err: unknown, path: string, what: string): UnsafeFileError | undefined {
  if ((err as NodeJS.ErrnoException).code !== 'ELOOP') return undefined;
  return new UnsafeFileError(`${what} ${path} is a symbolic link; knockgate does not follow links for the files it writes (a link could point it at any file on the host). Remove the link and let knockgate create the file`, path);
}

/**
 * Refuses a file that is not a plain file of ours: another owner, writable by group or others,
 * or with a second hard link (a link to a file elsewhere that O_NOFOLLOW cannot see).
 */
export function assertOwnedFile(info: Stats, path: string, what: string, rule: OwnerRule = {}): void {
  const uid = rule.uid ?? process.geteuid?.() ?? 0;
  if (!info.isFile()) throw new UnsafeFileError(`${what} ${path} is not a regular file; remove it and let knockgate create it`, path);
  if (info.uid !== uid && !(rule.rootMayOwn && info.uid === 0)) {
    throw new UnsafeFileError(`${what} ${path} is owned by uid ${info.uid}, not by the daemon's user (uid ${uid}); another user may have planted it. Check its content, then remove it or chown ${uid} it`, path);
  }
  if ((info.mode & 0o022) !== 0) {
    throw new UnsafeFileError(`${what} ${path} is writable by ${info.mode & 0o002 ? 'every user' : 'its group'} (mode ${(info.mode & 0o777).toString(8)}); run chmod go-w ${path}`, path);
  }
  if (info.nlink > 1) throw new UnsafeFileError(`${what} ${path} has ${info.nlink} hard links; a link may make knockgate write to another file. Remove it and let knockgate create it`, path);
}

/** Opens `path` with O_NOFOLLOW added to `flags`; a link is an UnsafeFileError. */
export async function openNoFollow(path: string, flags: number, what: string, mode = 0o600): Promise<FileHandle> {
  try {
    return await open(path, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    throw linkRefusal(err, path, what) ?? err;
  }
}

/** Reads a file of ours (no link, our owner, not writable by others); undefined when it does not exist. */
export async function readOwnedFile(path: string, what: string, maxBytes: number, rule: OwnerRule = {}): Promise<Buffer | undefined> {
  let file: FileHandle;
  try {
    file = await openNoFollow(path, constants.O_RDONLY | constants.O_NONBLOCK, what);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const info = await file.stat();
    assertOwnedFile(info, path, what, rule);
    if (info.size > maxBytes) throw new UnsafeFileError(`${what} ${path} is ${info.size} bytes, more than the ${maxBytes} knockgate ever writes; it is not ours or it is damaged: move it aside`, path);
    return await file.readFile();
  } finally {
    await file.close();
  }
}

/**
 * Replaces `path` with `data` atomically: a new temp file (O_EXCL, no link followed), fsync,
 * rename over the old one, fsync of the directory. rename replaces a link rather than writing
 * through it, so whatever sat at `path` is never written to.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, what: string, mode = 0o600): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp`);
  await unlink(temp).catch(() => undefined);
  try {
    const file = await openNoFollow(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, what, mode);
    try {
      await file.chmod(mode);
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    await syncDirectory(dirname(path));
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** fsync of a directory, so a rename or a new file in it is durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * An fd to append to (a log file): created 0640 if missing, never through a link; an existing
 * file must be ours or root's, not writable by others, with one link. Synchronous, for start-up.
 */
export function openAppendNoFollowSync(path: string, what: string, mode = 0o640): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode);
  } catch (err) {
    throw linkRefusal(err, path, what) ?? err;
  }
  try {
    assertOwnedFile(fstatSync(fd), path, what, { rootMayOwn: true });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * chmod that does not follow a link: the path is opened with O_PATH | O_NOFOLLOW, checked to be
 * what `kind` says (a socket, say), and changed through /proc/self/fd, which names that very inode.
 */
export function chmodNoFollowSync(path: string, mode: number, what: string, kind: 'socket' | 'file' | 'directory'): void {
  const fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  try {
    const info = fstatSync(fd);
    const ok = kind === 'socket' ? info.isSocket() : kind === 'file' ? info.isFile() : info.isDirectory();
    if (!ok) throw new UnsafeFileError(`${what} ${path} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a ' + kind}; not changing its mode`, path);
    chmodSync(`/proc/self/fd/${fd}`, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * pid_file: refused when it is a link or not a regular file (a link there was planted); written by
 * replacing it atomically, so nothing it pointed at is ever truncated.
 */
export async function writePidFile(path: string, pid: number = process.pid): Promise<void> {
  await assertPidFileSafe(path);
  await writeFileAtomic(path, `${pid}\n`, 'pid_file', 0o644);
}

export async function assertPidFileSafe(path: string): Promise<void> {
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info?.isSymbolicLink()) throw new UnsafeFileError(`pid_file ${path} is a symbolic link; knockgate does not write through one (it could truncate any file). Remove it`, path);
  if (info && !info.isFile()) throw new UnsafeFileError(`pid_file ${path} is not a regular file; remove it`, path);
}
