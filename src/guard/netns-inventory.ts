import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { cgroupV2Path } from './proc-process.js';
import type { NamespaceToRead } from './socket-table.js';

/**
 * Every network namespace on the host and a name an operator recognises: its `ip netns` name
 * (a file in /run/netns), `host` for PID 1's, or the container its processes run in as their
 * cgroup tells (docker, containerd, podman, a Kubernetes pod), else `netns:[INODE]`. Found through
 * /run/netns and /proc/<pid>/ns/net: a namespace with no process and no pin does not exist.
 */

/** Namespaces read per scan: a host with more is a container host whose guard should run per pod. */
export const MAX_NAMESPACES = 4_096;

export interface NetnsEntry extends NamespaceToRead {
  inode: number;
  name: string;
  /** The guard's own namespace. */
  own: boolean;
}

export interface InventoryOptions {
  proc?: string;
  runNetns?: string;
  dockerRoot?: string;
}

export function listNamespaces(opts: InventoryOptions = {}): { namespaces: NetnsEntry[]; truncated: boolean } {
  const proc = opts.proc ?? '/proc';
  const runNetns = opts.runNetns ?? '/run/netns';
  const own = inodeOfLink(`${proc}/self/ns/net`);
  const byInode = new Map<number, NetnsEntry>();
  let truncated = false;
  const add = (entry: NetnsEntry) => {
    if (byInode.has(entry.inode)) return;
    if (byInode.size >= MAX_NAMESPACES) truncated = true;
    else byInode.set(entry.inode, entry);
  };
  for (const name of readDir(runNetns)) {
    const inode = statInode(`${runNetns}/${name}`);
    if (inode !== undefined) add({ inode, name, path: `${runNetns}/${name}`, own: inode === own });
  }
  for (const pid of readDir(proc)) {
    if (!/^\d+$/.test(pid)) continue;
    const inode = inodeOfLink(`${proc}/${pid}/ns/net`);
    if (inode === undefined) continue;
    const known = byInode.get(inode);
    if (known) {
      known.pid ??= Number(pid);
      continue;
    }
    const cgroup = readCgroup(`${proc}/${pid}/cgroup`);
    const name = pid === '1' ? 'host' : (containerOf(cgroup ?? '', opts.dockerRoot) ?? `netns:[${inode}]`);
    add({ inode, name, path: `${proc}/${pid}/ns/net`, pid: Number(pid), own: inode === own });
  }
  // Two containers never share a name, but a name made from a cgroup may repeat: keep them apart.
  const seen = new Map<string, number>();
  const namespaces = [...byInode.values()].map((e) => {
    const n = seen.get(e.name) ?? 0;
    seen.set(e.name, n + 1);
    return n === 0 ? e : { ...e, name: `${e.name}#${n + 1}` };
  });
  return { namespaces, truncated };
}

/**
 * The container a cgroup path belongs to: `docker:NAME` (or the id's first 12 characters),
 * `containerd:ID`, `podman:ID`, `pod:UID` for a Kubernetes pod. Pure apart from reading Docker's
 * name for an id.
 */
export function containerOf(cgroup: string, dockerRoot = '/var/lib/docker'): string | undefined {
  const docker = /(?:\/docker[-/])([0-9a-f]{64})(?:\.scope)?(?:\/|$)/.exec(cgroup);
  if (docker) return `docker:${dockerName(docker[1]!, dockerRoot) ?? docker[1]!.slice(0, 12)}`;
  const containerd = /cri-containerd-([0-9a-f]{64})\.scope/.exec(cgroup);
  const pod = /kubepods[^/]*-pod([0-9a-f_]{36})\.slice/.exec(cgroup);
  if (pod) return `pod:${pod[1]!.replace(/_/g, '-')}${containerd ? `/${containerd[1]!.slice(0, 12)}` : ''}`;
  if (containerd) return `containerd:${containerd[1]!.slice(0, 12)}`;
  const podman = /libpod-(?:conmon-)?([0-9a-f]{64})\.scope/.exec(cgroup);
  if (podman) return `podman:${podman[1]!.slice(0, 12)}`;
  return undefined;
}

/** Docker keeps a container's name in its config (`"Name":"/web"`); unreadable = the id is shown. */
function dockerName(id: string, root: string): string | undefined {
  try {
    const config = JSON.parse(readFileSync(`${root}/containers/${id}/config.v2.json`, 'utf8')) as { Name?: unknown };
    return typeof config.Name === 'string' && /^\/?[A-Za-z0-9_.-]{1,128}$/.test(config.Name) ? config.Name.replace(/^\//, '') : undefined;
  } catch {
    return undefined;
  }
}

const NS_LINK = /^net:\[(\d{1,20})\]$/;

function inodeOfLink(path: string): number | undefined {
  try {
    const m = NS_LINK.exec(readlinkSync(path));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function statInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function readCgroup(path: string): string | undefined {
  try {
    return cgroupV2Path(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function readDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
