import type { Proto } from '../core/packet.js';
import { CHAIN_PRIORITY } from '../gates/nft-ruleset.js';
import { GateError } from '../gates/gate.js';

/**
 * The nft text of opt-in enforcement: input to a protected port is delivered only when the
 * socket the kernel would hand it to lives in the expected cgroup (`socket cgroupv2`), so a
 * process that preempted or co-bound the port receives nothing. Pure: values in, script out.
 *
 * TCP's first packet (`ct state new`) is judged by the listener nft's socket lookup finds. That
 * lookup may choose another socket of a SO_REUSEPORT group than the TCP stack does (a reuseport
 * BPF program decides differently each time it runs), so every later packet is judged too, by
 * the socket it reaches: the connection's own, created in the cgroup of the listener that took
 * it. In input a connection socket of another cgroup gets nothing (`socket wildcard 0` matches
 * only full sockets, so the handshake's last ACK, looked up to a request socket with no cgroup,
 * passes); in output such a socket sends nothing from the port. UDP sockets are full sockets:
 * every datagram is judged in input, and every answer in output.
 */

export const GUARD_CHAIN = 'guard';
/** The output side: nothing leaves a protected port from a socket of another cgroup. */
export const GUARD_OUTPUT_CHAIN = 'guard_out';
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
    ...removeGuardChainLines(t),
    `add chain ${t} ${GUARD_CHAIN} { type filter hook input priority ${GUARD_CHAIN_PRIORITY}; policy accept; }`,
    `add chain ${t} ${GUARD_OUTPUT_CHAIN} { type filter hook output priority ${GUARD_CHAIN_PRIORITY}; policy accept; }`,
  ];
  for (const p of ports) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65_535 || (p.proto !== 'tcp' && p.proto !== 'udp') || !NAME.test(p.name)) {
      throw new GateError(`invalid enforced port ${JSON.stringify(p)}`, 'guard');
    }
    let cgroup: string | undefined;
    if (p.cgroup) {
      if (!NFT_PATH.test(p.cgroup.nftPath) || p.cgroup.nftPath.split('/').includes('..') || !Number.isInteger(p.cgroup.level) || p.cgroup.level < 1) {
        throw new GateError(`invalid cgroup ${JSON.stringify(p.cgroup)}`, 'guard');
      }
      cgroup = `socket cgroupv2 level ${p.cgroup.level} "${p.cgroup.nftPath}"`;
    }
    const accept = (chain: string, match: string) => cgroup && lines.push(`add rule ${t} ${chain} ${match} ${cgroup} accept`);
    const drop = (chain: string, match: string, why: string) => lines.push(`add rule ${t} ${chain} ${match} counter drop comment "guard ${p.name}${why}"`);
    if (p.proto === 'tcp') {
      accept(GUARD_CHAIN, `tcp dport ${p.port} ct state new`);
      drop(GUARD_CHAIN, `tcp dport ${p.port} ct state new`, '');
      accept(GUARD_CHAIN, `tcp dport ${p.port}`);
      drop(GUARD_CHAIN, `tcp dport ${p.port} socket wildcard 0`, ': a connection of another cgroup');
      accept(GUARD_OUTPUT_CHAIN, `tcp sport ${p.port}`);
      drop(GUARD_OUTPUT_CHAIN, `tcp sport ${p.port} socket wildcard 0`, ': sent by another cgroup');
    } else {
      accept(GUARD_CHAIN, `udp dport ${p.port}`);
      drop(GUARD_CHAIN, `udp dport ${p.port}`, '');
      accept(GUARD_OUTPUT_CHAIN, `udp sport ${p.port}`);
      drop(GUARD_OUTPUT_CHAIN, `udp sport ${p.port}`, ': sent by another cgroup');
    }
  }
  return lines.join('\n') + '\n';
}

/** Removes the guard chains; the adds first make an absent chain not an error. */
export function removeGuardChainScript(table: string): string {
  return removeGuardChainLines(`inet ${checkTable(table)}`).join('\n') + '\n';
}

function removeGuardChainLines(t: string): string[] {
  return [`add table ${t}`, ...[GUARD_CHAIN, GUARD_OUTPUT_CHAIN].flatMap((c) => [`add chain ${t} ${c}`, `flush chain ${t} ${c}`, `delete chain ${t} ${c}`])];
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
