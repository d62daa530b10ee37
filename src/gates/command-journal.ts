import type { Grant } from '../core/grant.js';
import type { GrantStore, StoredGrant } from '../store/grant-store.js';

/**
 * What a command gate owes, as the grant store keeps it: one record per grant whose stop is
 * pending, written before the start runs and removed after the stop ran. A record names the gate,
 * door, source, family, ports and due time, never a command: after a restart the stop is made
 * again from the door as the current config has it.
 */
export class CommandJournal {
  constructor(
    private readonly store: GrantStore,
    private readonly gate: string,
  ) {}

  /** Durable once it resolves. */
  record(g: Grant, grantedAt: number, dueAt: number): Promise<void> {
    return this.store.put({ id: g.id, door: g.door, src: g.src, family: g.family, ports: g.ports, grantedAt, expiresAt: dueAt, gate: this.gate });
  }

  forget(id: string): Promise<void> {
    return this.store.remove(id);
  }

  /** Out of the journal into the store's side file, with the reason the daemon cannot act on it. */
  setAside(id: string, reason: string): Promise<void> {
    return this.store.setAside(id, reason);
  }

  /** This gate's records. */
  async recorded(): Promise<StoredGrant[]> {
    return (await this.store.list()).filter((r) => r.gate === this.gate);
  }
}

export function grantOf(record: StoredGrant): Grant {
  const { gate: _gate, ...grant } = record;
  return grant;
}
