import type { Grant } from '../../src/core/grant.js';
import type { Gate, GateEntry } from '../../src/gates/gate.js';

/**
 * An in-memory Gate: it records every grant and revoke, holds grants by id until they expire on
 * its clock (as an nft set element with a timeout would), and lists them per port. `block()`
 * makes grants wait until released, to fill the daemon's pending bound; `failWith()` makes them
 * fail, as a gate whose firewall refuses.
 */
export class MemoryGate implements Gate {
  readonly granted: Grant[] = [];
  readonly revoked: Grant[] = [];
  installs = 0;
  private readonly held = new Map<string, Grant>();
  private blocked: Array<() => void> | undefined;
  private failure: Error | undefined;

  constructor(
    readonly name = 'memory',
    private readonly now: () => number = Date.now,
  ) {}

  async install(): Promise<void> {
    this.installs += 1;
  }

  async grant(grant: Grant): Promise<void> {
    if (this.blocked) await new Promise<void>((resolve) => this.blocked!.push(resolve));
    if (this.failure) throw this.failure;
    this.granted.push(grant);
    this.held.set(grant.id, grant);
  }

  async revoke(grant: Grant): Promise<void> {
    this.revoked.push(grant);
    this.held.delete(grant.id);
  }

  async reconcile(live: Grant[], now: number): Promise<Grant[]> {
    for (const g of live) if (g.expiresAt > now) this.held.set(g.id, g);
    return this.live();
  }

  async list(): Promise<GateEntry[]> {
    const now = this.now();
    return this.live().flatMap((g) => {
      const expiresInMs = g.expiresAt - now;
      if (g.ports.length === 0) return [{ src: g.src, proto: 'cmd', port: 0, expiresInMs }];
      return g.ports.map((p) => ({ src: g.src, proto: p.proto, port: p.port, expiresInMs, ...(g.prefix !== undefined && { prefix: g.prefix }) }));
    });
  }

  async uninstall(): Promise<void> {
    this.held.clear();
  }

  /** Grants wait from now on; the returned function lets every waiting one through and stops waiting. */
  block(): () => void {
    const waiting: Array<() => void> = [];
    this.blocked = waiting;
    return () => {
      this.blocked = undefined;
      for (const release of waiting) release();
    };
  }

  failWith(err: Error | undefined): void {
    this.failure = err;
  }

  private live(): Grant[] {
    const now = this.now();
    return [...this.held.values()].filter((g) => g.expiresAt > now);
  }
}
