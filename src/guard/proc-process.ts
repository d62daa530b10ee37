/**
 * Parsers for the per-process facts in /proc/<pid>: which socket an fd is, the process's uids,
 * its cgroup v2 path and its executable. Pure; every one returns undefined on text it cannot read.
 */

const SOCKET_LINK = /^socket:\[(\d{1,20})\]$/;
const DELETED_SUFFIX = ' (deleted)';

/** The inode of `readlink /proc/<pid>/fd/<n>` when the fd is a socket. */
export function socketInode(link: string): number | undefined {
  const m = SOCKET_LINK.exec(link);
  if (!m) return undefined;
  const inode = Number(m[1]);
  return Number.isSafeInteger(inode) ? inode : undefined;
}

/** The effective uid from /proc/<pid>/status (`Uid:` real, effective, saved, fs). */
export function effectiveUid(status: string): number | undefined {
  const line = status.split('\n').find((l) => l.startsWith('Uid:'));
  const euid = Number(line?.split(/\s+/)[2]);
  return line !== undefined && Number.isInteger(euid) && euid >= 0 ? euid : undefined;
}

/** The cgroup v2 path (`0::/system.slice/sshd.service`) from /proc/<pid>/cgroup; hybrid hosts list v1 lines too. */
export function cgroupV2Path(text: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  const path = line?.slice(3);
  return path !== undefined && path.startsWith('/') ? path : undefined;
}

/** `readlink /proc/<pid>/exe`: the path, and whether the file was replaced or removed since it started. */
export function executable(link: string): { path: string; deleted: boolean } | undefined {
  if (!link.startsWith('/')) return undefined;
  const deleted = link.endsWith(DELETED_SUFFIX);
  return { path: deleted ? link.slice(0, -DELETED_SUFFIX.length) : link, deleted };
}

/** The systemd unit a cgroup path belongs to: its last component that names a unit (`sshd.service`). */
export function unitOf(cgroup: string): string | undefined {
  const parts = cgroup.split('/').filter((p) => /\.(service|scope|socket|slice)$/.test(p));
  return [...parts].reverse().find((p) => !p.endsWith('.slice')) ?? parts.at(-1);
}
