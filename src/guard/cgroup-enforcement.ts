import type { Proto } from '../core/packet.js';
import { CHAIN_PRIORITY } from '../gates/nft-ruleset.js';
import { GateError } from '../gates/gate.js';

/**
 * The nft text of opt-in enforcement: new input to a protected port is delivered only when the
 * socket the kernel would hand it to lives in the expected cgroup (`socket cgroupv2`), so a
 * process that preempted or co-bound the port receives nothing. Pure: values in, script out.
 *
 * TCP is judged on its first packet only (`ct state new`): the handshake's last ACK is looked up
 * to a request socket, which has no cgroup, and would never match (GUARD-AWS.md A3). UDP sockets
 * are full sockets, so every datagram is judged.
 */

export const GUARD_CHAIN = 'guard';
/** Just after knockgate's own input chain; a drop in any base chain is final, whatever the order. */
export const GUARD_CHAIN_PRIORITY = CHAIN_PRIORITY + 1;
/** Where nft resolves a `socket cgroupv2` path, whatever the host mounted: hard-coded in nft. */
export const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

export interface EnforcedPort {
  name: string;
  proto: Proto;
  port: number;
  /**
   * The cgroup as nft resolves it (relative to /sys/fs/cgroup) and its depth in the cgroup v2
   * tree; absent when the cgroup does not exist, and then nothing may receive new input.
   */
  cgroup?: { nftPath: string; level: number };
}

const TABLE = /^[A-Za-z0-9_]{1,32}$/;
const NFT_PATH = /^[A-Za-z0-9_@.:\-/]{1,4096}$/;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Creates or replaces the guard chain in knockgate's table, in one transaction. */
export function guardChainScript(table: string, ports: readonly EnforcedPort[]): string {
  const t = `inet ${checkTable(table)}`;
  const lines = [
    `add table ${t}`,
    `add chain ${t} ${GUARD_CHAIN}`,
    `flush chain ${t} ${GUARD_CHAIN}`,
    `delete chain ${t} ${GUARD_CHAIN}`,
    `add chain ${t} ${GUARD_CHAIN} { type filter hook input priority ${GUARD_CHAIN_PRIORITY}; policy accept; }`,
  ];
  for (const p of ports) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65_535 || (p.proto !== 'tcp' && p.proto !== 'udp') || !NAME.test(p.name)) {
      throw new GateError(`invalid enforced port ${JSON.stringify(p)}`, 'guard');
    }
    const match = p.proto === 'tcp' ? `tcp dport ${p.port} ct state new` : `udp dport ${p.port}`;
    if (p.cgroup) {
      if (!NFT_PATH.test(p.cgroup.nftPath) || p.cgroup.nftPath.split('/').includes('..') || !Number.isInteger(p.cgroup.level) || p.cgroup.level < 1) {
        throw new GateError(`invalid cgroup ${JSON.stringify(p.cgroup)}`, 'guard');
      }
      lines.push(`add rule ${t} ${GUARD_CHAIN} ${match} socket cgroupv2 level ${p.cgroup.level} "${p.cgroup.nftPath}" accept`);
    }
    lines.push(`add rule ${t} ${GUARD_CHAIN} ${match} counter drop comment "guard ${p.name}"`);
  }
  return lines.join('\n') + '\n';
}

/** Removes the guard chain; the add first makes an absent chain not an error. */
export function removeGuardChainScript(table: string): string {
  const t = `inet ${checkTable(table)}`;
  return [`add table ${t}`, `add chain ${t} ${GUARD_CHAIN}`, `flush chain ${t} ${GUARD_CHAIN}`, `delete chain ${t} ${GUARD_CHAIN}`].join('\n') + '\n';
}

/** The cgroup2 mount point from /proc/self/mountinfo (`… /sys/fs/cgroup … - cgroup2 …`). */
export function cgroup2MountPoint(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] !== 'cgroup2') continue;
    const mount = left?.split(' ')[4];
    if (mount?.startsWith('/')) return mount;
  }
  return undefined;
}

/**
 * A cgroup v2 path (`/system.slice/sshd.service`) as nft must name it: relative to
 * /sys/fs/cgroup, so on a hybrid host with cgroup2 at /sys/fs/cgroup/unified it gains `unified/`.
 * Undefined when cgroup2 is mounted where nft cannot reach it.
 */
export function nftCgroupPath(mountPoint: string, cgroup: string): { nftPath: string; level: number } | undefined {
  const parts = cgroup.split('/').filter(Boolean);
  if (parts.length === 0) return undefined;
  let prefix: string;
  if (mountPoint === NFT_CGROUP_ROOT) prefix = '';
  else if (mountPoint.startsWith(`${NFT_CGROUP_ROOT}/`)) prefix = `${mountPoint.slice(NFT_CGROUP_ROOT.length + 1)}/`;
  else return undefined;
  return { nftPath: `${prefix}${parts.join('/')}`, level: parts.length };
}

function checkTable(table: string): string {
  if (!TABLE.test(table)) throw new GateError(`invalid nft table name ${JSON.stringify(table)}`, 'guard');
  return table;
}
