import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FdScanCache, FULL_FD_SCAN_EVERY, readSocketTable } from '../src/guard/socket-table.js';

/**
 * The daemon's polls reuse the fds of processes whose /proc/<pid>/fd did not change (same inode
 * and size); a socket the last scan did not see, a new process or a changed fd directory is read
 * in the scan it appears in, and every FULL_FD_SCAN_EVERY scans everything is read again. On a
 * procfs-shaped fixture, where fd entries can be swapped without changing the directory's size
 * (as dup2 over an open fd does on a real /proc).
 */

let root: string;

/** /proc/net/tcp with one listener per inode on port 8000 + i, uid 0. */
function writeTcp(inodes: number[]): void {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const lines = inodes.map((inode, i) => `   ${i}: 00000000:${(8000 + i).toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`);
  writeFileSync(join(root, 'net', 'tcp'), [header, ...lines, ''].join('\n'));
}

function setFd(pid: number, fd: number, target: string): void {
  const dir = join(root, String(pid), 'fd');
  mkdirSync(dir, { recursive: true });
  try {
    unlinkSync(join(dir, String(fd)));
  } catch {
    // a new fd
  }
  symlinkSync(target, join(dir, String(fd)));
}

const holders = (cache: FdScanCache | undefined) =>
  Object.fromEntries(readSocketTable({ procRoot: root, ...(cache && { fdCache: cache }) }).listeners.map((l) => [l.inode, l.owners.map((o) => o.pid)]));

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'kgt-procfs-'));
  mkdirSync(join(root, 'net'));
  writeTcp([1001, 1002]);
  setFd(100, 3, 'socket:[1001]');
  setFd(100, 4, '/dev/null');
  setFd(200, 3, 'socket:[1002]');
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('socket table fd cache', () => {
  it('reuses an unchanged process, and reads everything again every FULL_FD_SCAN_EVERY scans', () => {
    const cache = new FdScanCache();
    expect(holders(cache)).toEqual({ 1001: [100], 1002: [200] });
    // The fd now points elsewhere but the directory looks the same: the cached holder stands...
    setFd(100, 3, 'pipe:[7]');
    const scans: Array<Record<string, number[]>> = [];
    for (let i = 1; i < FULL_FD_SCAN_EVERY; i++) scans.push(holders(cache));
    expect(scans.every((s) => s[1001]?.[0] === 100)).toBe(true);
    // ...until the full scan that is due.
    expect(holders(cache)).toEqual({ 1001: [], 1002: [200] });
    // Without a cache every scan reads every fd.
    setFd(100, 3, 'socket:[1001]');
    expect(holders(undefined)).toEqual({ 1001: [100], 1002: [200] });
    setFd(100, 3, 'pipe:[7]');
    expect(holders(undefined)).toEqual({ 1001: [], 1002: [200] });
  });

  it('a socket the last scan did not see sends the next scan through every process', () => {
    const cache = new FdScanCache();
    holders(cache);
    // dup2 of a new listener over fd 4 of a running process: same fd count, new socket inode.
    writeTcp([1001, 1002, 1003]);
    setFd(100, 4, 'socket:[1003]');
    expect(holders(cache)).toEqual({ 1001: [100], 1002: [200], 1003: [100] });
  });

  it('a new process, and a process whose fd directory changed, are read in the next scan', () => {
    const cache = new FdScanCache();
    holders(cache);
    // A fork: a new pid holding an existing socket.
    setFd(300, 3, 'socket:[1001]');
    expect(holders(cache)).toEqual({ 1001: [100, 300], 1002: [200] });
    // pid 200's fd directory is another one now (the pid was reused): its fds are read again.
    const fresh = join(root, '200', 'fd-new');
    mkdirSync(fresh);
    symlinkSync('socket:[1001]', join(fresh, '5'));
    rmSync(join(root, '200', 'fd'), { recursive: true });
    renameSync(fresh, join(root, '200', 'fd'));
    expect(holders(cache)).toEqual({ 1001: [100, 200, 300], 1002: [] });
    // An exited process is gone at once.
    rmSync(join(root, '300'), { recursive: true });
    expect(holders(cache)).toEqual({ 1001: [100, 200], 1002: [] });
  });
});
