import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import type { Family, Proto } from '../core/packet.js';
import { parseProcNet, type ProcSocket } from './proc-net-sockets.js';
import { cgroupV2Path, effectiveUid, executable, socketInode } from './proc-process.js';
import { dumpSocketsByDiag } from './sock-diag.js';

/**
 * The sockets that hold a port in one or more network namespaces, and the processes that hold
 * them: the kernel's sock_diag dump for the sockets (or /proc/net/{tcp,tcp6,udp,udp6} where the
 * addon cannot run), /proc/<pid>/fd for who holds which inode. Socket inodes are unique across
 * namespaces, so one fd scan serves every namespace. A process that exits mid-scan or whose
 * entries cannot be read only loses its details.
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
  /** The thread whose fd table was read, when the thread-group leader's is gone (a zombie leader). */
  thread?: number;
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
  /**
   * `device:inode` of the file the process runs (stat of /proc/<pid>/exe): a path bind-mounted
   * over in another mount namespace shows the expected path but another file.
   */
  exeFile?: string;
  /** Seen through /proc/<pid>/task/<tid>/fd: the thread-group leader exited (a zombie) and a thread holds the socket. */
  viaThread?: number;
}

export interface Listener extends ProcSocket {
  /** Every visible process holding the socket (several after fork or fd passing); empty = owner not visible. */
  owners: SocketOwner[];
  /** The network namespace's name when it is not the guard's own (see netns-inventory.ts). */
  netns?: string;
}

/** A network namespace to read: ours (no path), or one opened through `path` (/run/netns/NAME, /proc/<pid>/ns/net). */
export interface NamespaceToRead {
  /** Absent for the guard's own namespace. */
  name?: string;
  path?: string;
  /** A process inside it, for /proc/<pid>/net when sock_diag cannot run. */
  pid?: number;
  /** Also read TCP sockets bound without listening (default true; see sock-diag.ts for their cost). */
  bound?: boolean;
}

export interface SocketTable {
  listeners: Listener[];
  /** Where the sockets came from: the kernel's sock_diag, or /proc/net text (no addon, a fixture). */
  source: 'sock_diag' | 'proc';
  /** Namespaces read; one that could not be entered is named in `unreadableNamespaces`. */
  namespaces: number;
  unreadableNamespaces: string[];
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
  /** The namespaces to read; default: only the guard's own. */
  namespaces?: readonly NamespaceToRead[];
  /** `proc` reads /proc/net even where sock_diag works (the test of the fallback). */
  source?: 'auto' | 'proc';
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
  // A procfs fixture has no kernel behind it: only the real /proc is read through sock_diag.
  let diag = proc === '/proc' && opts.source !== 'proc';
  let truncated = false;
  const sockets: Array<ProcSocket & { netns?: string }> = [];
  const unreadableNamespaces: string[] = [];
  const namespaces = opts.namespaces ?? [{}];
  for (const ns of namespaces) {
    const budget = maxSockets - sockets.length;
    let read: { sockets: ProcSocket[]; dropped: number } | undefined;
    if (diag) {
      try {
        read = withNamespace(ns, (fd) => dumpSocketsByDiag(fd, budget, ns.bound !== false));
      } catch (err) {
        // No addon or no sock_diag (an old kernel): /proc/net from here on. A namespace that
        // vanished or cannot be entered is named, not fatal.
        if (ns.path === undefined || !isNamespaceError(err)) diag = false;
        else unreadableNamespaces.push(ns.name ?? ns.path);
      }
    }
    if (!diag && read === undefined) {
      const dir = ns.path === undefined ? `${proc}/net` : ns.pid === undefined ? undefined : `${proc}/${ns.pid}/net`;
      read = dir === undefined ? undefined : readProcNetDir(dir, budget);
      if (read === undefined && ns.path !== undefined) unreadableNamespaces.push(ns.name ?? ns.path);
    }
    if (!read) continue;
    if (read.dropped > 0) truncated = true;
    for (const s of read.sockets) sockets.push(ns.name === undefined ? s : { ...s, netns: ns.name });
  }
  const kept = withoutClientSockets(sockets);
  const holders = new Map<number, number[]>(kept.map((s) => [s.inode, []]));
  const scan = scanFds(proc, holders, opts.maxProcesses ?? MAX_PROCESSES_PER_SCAN, opts.maxFds ?? MAX_FDS_PER_SCAN, opts.fdCache);
  truncated ||= scan.truncated;
  const owners = new Map<number, SocketOwner>();
  const listeners = kept.map((s): Listener => {
    const pids = holders.get(s.inode) ?? [];
    if (pids.length > MAX_OWNERS_PER_SOCKET) truncated = true;
    return {
      ...s,
      owners: pids.slice(0, MAX_OWNERS_PER_SOCKET).map((pid) => {
        let owner = owners.get(pid);
        if (!owner) owners.set(pid, (owner = readOwner(proc, pid, scan.threads.get(pid))));
        return owner;
      }),
    };
  });
  return {
    listeners,
    source: diag ? 'sock_diag' : 'proc',
    namespaces: namespaces.length,
    unreadableNamespaces,
    truncated,
    processes: scan.processes,
    unreadableProcesses: scan.unreadable,
  };
}

/**
 * A connected UDP socket matters where it shares its port with a bound one (it takes that peer's
 * datagrams from the service); alone on its port it is a client (a resolver's query socket),
 * and there are many, coming and going: kept, each would cost the poll a full fd scan.
 */
function withoutClientSockets<T extends ProcSocket & { netns?: string }>(sockets: T[]): T[] {
  const key = (s: T) => `${s.netns ?? ''}|${s.port}`;
  const served = new Set(sockets.filter((s) => s.proto === 'udp' && s.state === 'unconnected').map(key));
  return sockets.filter((s) => s.state !== 'connected' || served.has(key(s)));
}

/** Runs `use` with the namespace open (fd -1 for our own), and closes it. */
function withNamespace<T>(ns: NamespaceToRead, use: (fd: number) => T): T {
  if (ns.path === undefined) return use(-1);
  const fd = openSync(ns.path, 'r');
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

function isNamespaceError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  const errno = (err as { errno?: number }).errno;
  // ENOENT/ESRCH: the namespace's last process exited; EPERM/EINVAL from setns.
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || errno === 1 || errno === 22;
}

function readProcNetDir(dir: string, budget: number): { sockets: ProcSocket[]; dropped: number } | undefined {
  const littleEndian = endianness() === 'LE';
  const sockets: ProcSocket[] = [];
  let dropped = 0;
  let any = false;
  for (const { file, proto, family } of SOURCES) {
    // A kernel without IPv6 has no tcp6/udp6: nothing listens there.
    const text = readProcNet(`${dir}/${file}`);
    if (text === undefined) continue;
    any = true;
    const parsed = parseProcNet(text, proto, family, budget - sockets.length, littleEndian);
    dropped += parsed.dropped;
    sockets.push(...parsed.sockets);
  }
  return any ? { sockets, dropped } : undefined;
}

/** Adds to `holders` (inode → pids) every pid with an fd on one of its inodes. */
function scanFds(proc: string, holders: Map<number, number[]>, maxProcesses: number, maxFds: number, cache: FdScanCache | undefined) {
  let processes = 0;
  let unreadable = 0;
  let fds = 0;
  let truncated = false;
  const full = cache === undefined || cache.scansSinceFull + 1 >= FULL_FD_SCAN_EVERY || [...holders.keys()].some((inode) => !cache.socketInodes.has(inode));
  const seen = new Map<number, CachedFds>();
  const threads = new Map<number, number>();
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
      let read = readFds(dir, holders, maxFds - fds);
      if (read === 'gone') continue;
      let thread: number | undefined;
      // A thread-group leader that exited while its threads run is a zombie with an empty fd
      // directory; the threads' shared fd table is still under task/<tid>/fd.
      if (read.fds === 0 && !read.unreadable) {
        for (const tid of readDir(`${proc}/${name}/task`) ?? []) {
          if (tid === name) continue;
          const viaTask = readFds(`${proc}/${name}/task/${tid}/fd`, holders, maxFds - fds);
          if (viaTask !== 'gone' && viaTask.fds > 0) {
            read = viaTask;
            thread = Number(tid);
            break;
          }
        }
      }
      fds += read.fds;
      truncated ||= read.truncated;
      entry = { dirIno: stat ? stat.ino : 0, dirSize: stat ? stat.size : 0, inodes: read.inodes, unreadable: read.unreadable, ...(thread !== undefined && { thread }) };
    }
    if (entry.unreadable) unreadable++;
    if (entry.thread !== undefined && entry.inodes.length > 0) threads.set(pid, entry.thread);
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
  return { processes, unreadable, truncated, threads };
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

/** The owner's facts, from the thread that holds the socket when the leader is a zombie (its exe and uids are gone). */
function readOwner(proc: string, pid: number, thread: number | undefined): SocketOwner {
  const owner: SocketOwner = { pid, ...(thread !== undefined && { viaThread: thread }) };
  const dir = thread === undefined ? `${proc}/${pid}` : `${proc}/${pid}/task/${thread}`;
  const comm = readText(`${dir}/comm`)?.trim();
  if (comm) owner.comm = comm;
  const status = readText(`${dir}/status`);
  const euid = status === undefined ? undefined : effectiveUid(status);
  if (euid !== undefined) owner.euid = euid;
  const exe = executable(readLink(`${dir}/exe`) ?? '');
  if (exe) {
    owner.exe = exe.path;
    if (exe.deleted) owner.exeDeleted = true;
    const file = statOf(`${dir}/exe`);
    if (file) owner.exeFile = fileId(file);
  }
  const cgroupText = readText(`${dir}/cgroup`);
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

/** `device:inode` of a file, to tell two files at one path apart. */
export function fileId(s: { dev: number; ino: number }): string {
  return `${s.dev}:${s.ino}`;
}

function statOf(path: string): { dev: number; ino: number; size: number } | undefined {
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

/** Who holds a socket, in one phrase: every visible process, or that none is visible. */
export function describeHolder(l: Listener): string {
  if (l.owners.length === 0) return `socket uid ${l.uid} (owner not visible)`;
  return l.owners.map((o) => describeProcess(o, l.uid)).join(', ');
}

function describeProcess(o: SocketOwner, socketUid: number): string {
  const parts = [`pid ${o.pid}${o.comm ? ` (${o.comm})` : ''}`, `uid ${o.euid ?? socketUid}`];
  if (o.viaThread !== undefined) parts.push(`thread ${o.viaThread} (leader exited)`);
  if (o.exe) parts.push(`exe ${o.exe}${o.exeDeleted ? ' (deleted)' : ''}`);
  if (o.cgroup) parts.push(`cgroup ${o.cgroup}`);
  return parts.join(' ');
}
