import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import type { Family, Proto } from '../core/packet.js';
import { parseProcNet, type ProcSocket } from './proc-net-sockets.js';
import { cgroupV2Path, effectiveUid, executable, socketInode } from './proc-process.js';

/**
 * The listening sockets of this network namespace and the processes that hold them, read from
 * /proc: /proc/net/{tcp,tcp6,udp,udp6} for the sockets, /proc/<pid>/fd for who holds which inode.
 * A process that exits mid-scan or whose entries cannot be read only loses its details.
 */

/**
 * Listening sockets kept per scan. A busy host has hundreds; 65,536 is room for a deliberate
 * flood of listeners while bounding the scan at a few hundred milliseconds.
 */
export const MAX_SOCKETS_PER_SCAN = 65_536;
/** Processes whose fds are read per scan (pid_max is 4,194,304; a host with more is not a bastion). */
export const MAX_PROCESSES_PER_SCAN = 32_768;
/** fd links read per scan: bounds the scan when one process holds a million descriptors. */
export const MAX_FDS_PER_SCAN = 1_000_000;
/** Processes reported per socket: a pre-fork server shares its listener with every worker. */
export const MAX_OWNERS_PER_SOCKET = 64;
/**
 * With an FdScanCache, every this many scans read every process's fds again: bounds how many
 * scans an existing socket passed into a running process (whose fd count did not change) goes
 * unseen. New sockets and new processes are always seen in the scan they appear in.
 */
export const FULL_FD_SCAN_EVERY = 10;

/** What one process's fds held at the last scan. */
interface CachedFds {
  /** Inode and size of /proc/<pid>/fd; the size is the fd count on Linux 6.2+ (0 before). */
  dirIno: number;
  dirSize: number;
  /** Listening-socket inodes among its fds. */
  inodes: number[];
  unreadable: boolean;
}

/**
 * The fd scan of the last poll, kept for the next: a process whose /proc/<pid>/fd has the same
 * inode and size is not read again (readlink of every fd is most of a scan's cost), unless the
 * socket table holds a socket the last scan did not see, or a full scan is due.
 */
export class FdScanCache {
  processes = new Map<number, CachedFds>();
  socketInodes = new Set<number>();
  scansSinceFull = 0;
}

/** A process that holds a listening socket, with what /proc lets us see of it. */
export interface SocketOwner {
  pid: number;
  /** Short name (/proc/<pid>/comm). */
  comm?: string;
  euid?: number;
  exe?: string;
  /** The executable was replaced or removed after the process started. */
  exeDeleted?: boolean;
  /** cgroup v2 path, e.g. /system.slice/sshd.service. */
  cgroup?: string;
}

export interface Listener extends ProcSocket {
  /** Every visible process holding the socket (several after fork or fd passing); empty = owner not visible. */
  owners: SocketOwner[];
}

export interface SocketTable {
  listeners: Listener[];
  /** A bound was reached: some sockets or owners are missing from this table. */
  truncated: boolean;
  processes: number;
  /** Processes whose fds could not be read (another user's without root, hidepid=, gone mid-scan). */
  unreadableProcesses: number;
}

export interface ReadSocketTableOptions {
  /** /proc, or another procfs mount (a test fixture). */
  procRoot?: string;
  /** Reuse the fds of processes that did not change since the scan that filled it (the daemon's polls). */
  fdCache?: FdScanCache;
  maxSockets?: number;
  maxProcesses?: number;
  maxFds?: number;
}

const SOURCES: Array<{ file: string; proto: Proto; family: Family }> = [
  { file: 'tcp', proto: 'tcp', family: 4 },
  { file: 'tcp6', proto: 'tcp', family: 6 },
  { file: 'udp', proto: 'udp', family: 4 },
  { file: 'udp6', proto: 'udp', family: 6 },
];

export function readSocketTable(opts: ReadSocketTableOptions = {}): SocketTable {
  const proc = opts.procRoot ?? '/proc';
  const maxSockets = opts.maxSockets ?? MAX_SOCKETS_PER_SCAN;
  const littleEndian = endianness() === 'LE';
  let truncated = false;
  const sockets: ProcSocket[] = [];
  for (const { file, proto, family } of SOURCES) {
    // A kernel without IPv6 has no tcp6/udp6: nothing listens there.
    const text = readProcNet(`${proc}/net/${file}`);
    if (text === undefined) continue;
    const parsed = parseProcNet(text, proto, family, maxSockets - sockets.length, littleEndian);
    if (parsed.dropped > 0) truncated = true;
    sockets.push(...parsed.sockets);
  }
  const holders = new Map<number, number[]>(sockets.map((s) => [s.inode, []]));
  const scan = scanFds(proc, holders, opts.maxProcesses ?? MAX_PROCESSES_PER_SCAN, opts.maxFds ?? MAX_FDS_PER_SCAN, opts.fdCache);
  truncated ||= scan.truncated;
  const owners = new Map<number, SocketOwner>();
  const listeners = sockets.map((s): Listener => {
    const pids = holders.get(s.inode) ?? [];
    if (pids.length > MAX_OWNERS_PER_SOCKET) truncated = true;
    return {
      ...s,
      owners: pids.slice(0, MAX_OWNERS_PER_SOCKET).map((pid) => {
        let owner = owners.get(pid);
        if (!owner) owners.set(pid, (owner = readOwner(proc, pid)));
        return owner;
      }),
    };
  });
  return { listeners, truncated, processes: scan.processes, unreadableProcesses: scan.unreadable };
}

/** Adds to `holders` (inode → pids) every pid with an fd on one of its inodes. */
function scanFds(proc: string, holders: Map<number, number[]>, maxProcesses: number, maxFds: number, cache: FdScanCache | undefined) {
  let processes = 0;
  let unreadable = 0;
  let fds = 0;
  let truncated = false;
  const full = cache === undefined || cache.scansSinceFull + 1 >= FULL_FD_SCAN_EVERY || [...holders.keys()].some((inode) => !cache.socketInodes.has(inode));
  const seen = new Map<number, CachedFds>();
  const pids = (readDir(proc) ?? []).filter((name) => /^\d+$/.test(name));
  for (const name of pids) {
    if (processes >= maxProcesses || fds >= maxFds) {
      truncated = true;
      break;
    }
    processes++;
    const pid = Number(name);
    const dir = `${proc}/${name}/fd`;
    // Stat before reading: a change in between shows as a changed size at the next scan, never hides.
    const stat = cache && statOf(dir);
    const cached = cache?.processes.get(pid);
    let entry: CachedFds | undefined;
    if (!full && stat && cached && cached.dirIno === stat.ino && cached.dirSize === stat.size) entry = cached;
    else {
      const read = readFds(dir, holders, maxFds - fds);
      if (read === 'gone') continue;
      fds += read.fds;
      truncated ||= read.truncated;
      entry = { dirIno: stat ? stat.ino : 0, dirSize: stat ? stat.size : 0, inodes: read.inodes, unreadable: read.unreadable };
    }
    if (entry.unreadable) unreadable++;
    for (const inode of entry.inodes) {
      const list = holders.get(inode);
      // One process may hold the same socket on several fds (dup); it is one owner.
      if (list && list.at(-1) !== pid) list.push(pid);
    }
    seen.set(pid, entry);
  }
  if (cache) {
    // A truncated scan's entries are partial: the next scan must not trust them.
    cache.processes = truncated ? new Map() : seen;
    cache.socketInodes = new Set(holders.keys());
    cache.scansSinceFull = full ? 0 : cache.scansSinceFull + 1;
  }
  return { processes, unreadable, truncated };
}

/** The listening-socket inodes among one process's fds; 'gone' when it exited since /proc was listed. */
function readFds(dir: string, holders: ReadonlyMap<number, number[]>, maxFds: number) {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    // A refusal (another user's process without root, hidepid=) hides an owner.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone' as const;
    return { inodes: [], fds: 0, truncated: false, unreadable: true };
  }
  const inodes: number[] = [];
  let fds = 0;
  for (const fd of entries) {
    if (++fds > maxFds) return { inodes, fds, truncated: true, unreadable: false };
    const inode = socketInode(readLink(`${dir}/${fd}`) ?? '');
    if (inode !== undefined && holders.has(inode)) inodes.push(inode);
  }
  return { inodes, fds, truncated: false, unreadable: false };
}

function readOwner(proc: string, pid: number): SocketOwner {
  const owner: SocketOwner = { pid };
  const comm = readText(`${proc}/${pid}/comm`)?.trim();
  if (comm) owner.comm = comm;
  const status = readText(`${proc}/${pid}/status`);
  const euid = status === undefined ? undefined : effectiveUid(status);
  if (euid !== undefined) owner.euid = euid;
  const exe = executable(readLink(`${proc}/${pid}/exe`) ?? '');
  if (exe) {
    owner.exe = exe.path;
    if (exe.deleted) owner.exeDeleted = true;
  }
  const cgroupText = readText(`${proc}/${pid}/cgroup`);
  const cgroup = cgroupText === undefined ? undefined : cgroupV2Path(cgroupText);
  if (cgroup !== undefined) owner.cgroup = cgroup;
  return owner;
}

/** Bytes asked of the kernel per read of /proc/net/*: each read restarts the kernel's walk of the socket hash, so few large reads beat many small ones (10,000 sockets: 57 ms against 93 ms). */
const PROC_NET_READ_BYTES = 1024 * 1024;

function readProcNet(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.allocUnsafe(PROC_NET_READ_BYTES);
    const parts: string[] = [];
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) parts.push(buffer.toString('latin1', 0, n));
    return parts.join('');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

// The scan is synchronous on purpose: thousands of tiny procfs reads cost far less as plain
// syscalls than as promises, and procfs never blocks on a disk.

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function statOf(path: string): { ino: number; size: number } | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function readDir(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** Who holds a socket, for findings and status: each owning process (pid, comm, uid, exe, cgroup), or its uid. */
export function describeHolder(l: Listener): string {
  if (l.owners.length === 0) return `socket uid ${l.uid} (owner not visible)`;
  return l.owners.map((o) => describeProcess(o, l.uid)).join(', ');
}

function describeProcess(o: SocketOwner, socketUid: number): string {
  const parts = [`pid ${o.pid}${o.comm ? ` (${o.comm})` : ''}`, `uid ${o.euid ?? socketUid}`];
  if (o.exe) parts.push(`exe ${o.exe}${o.exeDeleted ? ' (deleted)' : ''}`);
  if (o.cgroup) parts.push(`cgroup ${o.cgroup}`);
  return parts.join(' ');
}
