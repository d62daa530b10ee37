import type { Grant } from '../core/grant.js';
import type { PortSpec } from '../core/packet.js';
import { KnockgateError, type ErrorCode } from '../core/knockgate-error.js';

/**
 * What enforces grants. Every implementation is one file named after what it talks to.
 * All methods are idempotent: installing twice, granting twice or revoking something already
 * gone is not an error.
 */
export interface Gate {
  readonly name: string;
  /** Create or repair the gate's firewall state (tables, chains, protection of ports). */
  install(): Promise<void>;
  /** Open `grant.ports` for `grant.src` until `grant.expiresAt` (extends a live grant). */
  grant(grant: Grant): Promise<void>;
  /** Close a grant now. */
  revoke(grant: Grant): Promise<void>;
  /** Bring enforcement in line with the live grants after a restart; returns grants still live. */
  reconcile(live: Grant[], now: number): Promise<Grant[]>;
  /** Grants the enforcement point currently holds, as far as it can tell. */
  list(): Promise<GateEntry[]>;
  /** Clean stop: drop grants and leave protected ports as configured. */
  uninstall(): Promise<void>;
  /** Running totals for `knockgate status` (commands run, failed, timed out…), for gates that count. */
  counters?(): Record<string, number>;
}

/**
 * A gate whose one-shot grants are used up where it enforces them (the kernel's packet path), so
 * the daemon learns of it only by asking: which of these grants' ports have been used since.
 */
export interface OneShotReporting {
  usedOneShots(grants: readonly Grant[]): Promise<Array<{ grant: Grant; port: PortSpec }>>;
}

export function reportsOneShots(gate: Gate): gate is Gate & OneShotReporting {
  return typeof (gate as Partial<OneShotReporting>).usedOneShots === 'function';
}

/** One grant as seen at the enforcement point (e.g. an nft set element). */
export interface GateEntry {
  src: string;
  proto: string;
  port: number;
  /** Milliseconds left before the enforcement point closes it by itself, if it knows. */
  expiresInMs?: number;
  /** SPA NAT access: new connections to `proto/port` from `src` are forwarded to this host and port. */
  forward?: { host: string; port: number };
  /** A prefix grant: `src` is the network's address. */
  prefix?: number;
}

export class GateError extends KnockgateError {
  readonly code: ErrorCode = 'gate.failed';

  constructor(
    message: string,
    readonly gate: string,
    readonly command?: string,
    readonly stderr?: string,
  ) {
    super(message);
    this.name = 'GateError';
  }
}

/**
 * A gate that watches its own enforcement after install (gates/enforcement-watch.ts): when its
 * table, chains or jump are removed or changed behind it (`nft flush ruleset`, `iptables -F`), it
 * puts them back with the grants it holds and says so through the listener.
 */
export interface EnforcementWatching {
  watchEnforcement(listener: EnforcementListener): void;
  /** Stops watching; resolves once no check or restore is running. Called before uninstall. */
  unwatchEnforcement(): Promise<void>;
  enforcementState(): EnforcementState;
}

export function watchesEnforcement(gate: Gate): gate is Gate & EnforcementWatching {
  return typeof (gate as Partial<EnforcementWatching>).watchEnforcement === 'function';
}

export type EnforcementListener = (event: EnforcementEvent) => void;

export type EnforcementEvent =
  /** The enforcement was found lost or changed and is back, with `grants` grants put back. */
  | { kind: 'restored'; gate: string; what: string; lostAt: number; restoredAt: number; windowMs: number; grants: number }
  /** A restore failed (or must wait: too many restores in a row); the gate retries. */
  | { kind: 'restore-failed'; gate: string; what: string; lostAt: number; error: string };

export interface EnforcementState {
  /** `lost`: the gate's rules are not (all) in the kernel now; new connections may pass or fail. */
  state: 'intact' | 'lost';
  /** Losses found since the watch started. */
  losses: number;
  /** The last loss, restored or not. */
  lastLoss?: { what: string; at: number; windowMs?: number };
}
