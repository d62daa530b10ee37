import { readFileSync, statSync } from 'node:fs';
import { enforcedCgroup } from '../config/guard-config.js';
import type { PortExpectation } from '../config/model.js';
import type { NftProcess } from '../gates/nft-process.js';
import type { Logger } from '../log/logger.js';
import { cgroup2MountPoint, guardChainScript, nftCgroupPath, removeGuardChainScript, type EnforcedPort } from './cgroup-enforcement.js';

/**
 * Loads the guard chain for the expectations with `enforce = true`, and loads it again when a
 * protected cgroup is re-created: nft turns the path into the cgroup's inode number when the rule
 * is loaded, so after a unit restart (rmdir + mkdir) the old rule would match nothing.
 */
export class GuardEnforcer {
  /** Inode of each enforced cgroup directory when the chain was loaded (undefined = it was absent). */
  private loaded: Map<string, number | undefined> | undefined;

  constructor(
    private readonly nft: NftProcess,
    private readonly table: string,
    private expectations: readonly PortExpectation[],
    private readonly logger?: Logger,
    private readonly mountinfo = '/proc/self/mountinfo',
  ) {}

  get active(): boolean {
    return this.expectations.some((e) => e.enforce);
  }

  setExpectations(expectations: readonly PortExpectation[]): void {
    this.expectations = expectations;
    this.loaded = undefined;
  }

  /** Loads the chain if it was never loaded or a protected cgroup changed; returns whether it loaded. */
  async refresh(): Promise<boolean> {
    const enforced = this.expectations.filter((e) => e.enforce);
    if (enforced.length === 0) {
      // Only a chain this run loaded is removed: a host without enforcement never gets a table from the guard.
      if (this.loaded !== undefined && this.loaded.size > 0) await this.nft.runScript(removeGuardChainScript(this.table));
      this.loaded = new Map();
      return false;
    }
    const mount = cgroup2MountPoint(readFileSync(this.mountinfo, 'utf8'));
    if (mount === undefined) throw new Error('enforcement needs cgroup v2, and no cgroup2 file system is mounted');
    const inodes = new Map<string, number | undefined>();
    const ports: EnforcedPort[] = [];
    for (const e of enforced) {
      const cgroup = enforcedCgroup(e.owner)!;
      const nftPath = nftCgroupPath(mount, cgroup);
      if (!nftPath) throw new Error(`cgroup2 is mounted at ${mount}; nft resolves cgroup paths under /sys/fs/cgroup only`);
      const inode = inodeOf(`${mount}${cgroup}`);
      inodes.set(cgroup, inode);
      ports.push({ name: e.name, proto: e.proto, port: e.port, ...(inode !== undefined && { cgroup: nftPath }) });
    }
    if (this.loaded && sameInodes(this.loaded, inodes)) return false;
    await this.nft.runScript(guardChainScript(this.table, ports));
    this.loaded = inodes;
    const absent = ports.filter((p) => !p.cgroup).map((p) => p.name);
    this.logger?.info({ outcome: 'guard-enforcing', ports: ports.map((p) => `${p.port}/${p.proto}`), cgroup_absent: absent }, 'guard: enforcement loaded');
    if (absent.length > 0) this.logger?.warn({ outcome: 'guard-enforcing', expectations: absent }, 'guard: expected cgroup absent; new input to its port is dropped until it exists');
    return true;
  }

  async remove(): Promise<void> {
    await this.nft.runScript(removeGuardChainScript(this.table));
    this.loaded = undefined;
  }
}

function inodeOf(path: string): number | undefined {
  try {
    const s = statSync(path);
    return s.isDirectory() ? s.ino : undefined;
  } catch {
    return undefined;
  }
}

function sameInodes(a: ReadonlyMap<string, number | undefined>, b: ReadonlyMap<string, number | undefined>): boolean {
  return a.size === b.size && [...b].every(([k, v]) => a.has(k) && a.get(k) === v);
}
