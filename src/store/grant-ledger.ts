import { isIP } from 'node:net';
import type { Grant } from '../core/grant.js';

/**
 * Grants per fleet. Each is one hash field and one sorted-set entry in Redis (~300 bytes) and one
 * set element in every member's gate: this matches the nftables set size (MAX_LIVE_GRANTS). Past
 * it a new grant is refused by the ledger and stays local to the member that made it.
 */
export const MAX_FLEET_GRANTS = 65_536;
/** Members listed by status; a fleet behind one address has a handful, the bench models 100. */
export const MAX_FLEET_MEMBERS = 1_024;
/** A member not heard from for this long is gone from the list (its heartbeat entry expires). */
export const HEARTBEAT_TTL_MS = 15_000;

/** A live grant as the fleet keeps it: the grant with its absolute expiry, the gate, who made it. */
export interface FleetGrant {
  grant: Grant;
  /** The gate (by name) the grant went through at its member; every member enforces it in its gate of that name. */
  gate: string;
  /** The member that made (or last extended) it. */
  member: string;
}

export interface MemberBeat {
  member: string;
  /** The member's clock at its last heartbeat (ms since the epoch). */
  at: number;
}

/** What another member did, as the ledger tells it. */
export type LedgerEvent = { kind: 'grant'; entry: FleetGrant } | { kind: 'revoke'; id: string; member: string };

/** `up`: every part of the ledger answers; `down`: some part does not, and it reconnects by itself. */
export type LedgerState = 'up' | 'down';

export type PublishOutcome = 'published' | 'kept-longer' | 'full';

/**
 * The grants of a fleet, shared by its members (shaped like ReplayStore: one file per backend,
 * memory-grant-ledger.ts for tests and redis-grant-ledger.ts for a fleet). Every call rejects with
 * StoreError when the backend cannot be reached; the ledger reconnects by itself and says so.
 */
export interface GrantLedger {
  readonly name: string;
  /** Connects; resolves whether or not the backend answers (the state says which). */
  start(onEvent: (event: LedgerEvent) => void, onState: (state: LedgerState) => void): Promise<void>;
  readonly state: LedgerState;
  /** While down: the backend's last connection error when it gave one ("self-signed certificate"), for the operator. */
  readonly downReason?: string;
  /**
   * Adds or extends a grant and tells every member. `kept-longer`: the fleet already holds it
   * with a later expiry; `full`: MAX_FLEET_GRANTS live grants, none expired.
   */
  publish(entry: FleetGrant, now: number): Promise<PublishOutcome>;
  /**
   * An id the backend made when it first held this fleet: a different one later means it lost
   * the fleet's data (a Redis restarted without persistence), and members publish their grants again.
   */
  epoch(): Promise<string>;
  /** Removes a grant (an operator's revoke) and tells every member. */
  withdraw(id: string, member: string): Promise<void>;
  /** The fleet's grants still live at `now`. */
  live(now: number): Promise<FleetGrant[]>;
  heartbeat(member: string, now: number): Promise<void>;
  /** Members heard from within HEARTBEAT_TTL_MS of `now`, latest first. */
  members(now: number): Promise<MemberBeat[]>;
  close(): Promise<void>;
}

/**
 * A ledger record as JSON, checked before a member's gate enforces it: Redis is trusted (anyone who
 * can write to it can open ports fleet-wide), but a record another version wrote or a stray key
 * must not reach nft as garbage. Undefined when it is not a grant.
 */
export function parseFleetGrant(text: string): FleetGrant | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const e = v as Partial<FleetGrant> | null;
  const g = e?.grant as Partial<Grant> | undefined;
  if (typeof e?.gate !== 'string' || typeof e.member !== 'string' || !g) return undefined;
  const portsOk = Array.isArray(g.ports) && g.ports.every((p) => (p.proto === 'tcp' || p.proto === 'udp') && Number.isInteger(p.port) && p.port > 0 && p.port < 65_536);
  const ok =
    typeof g.id === 'string' &&
    typeof g.door === 'string' &&
    typeof g.src === 'string' &&
    isIP(g.src) === g.family &&
    Number.isFinite(g.grantedAt) &&
    Number.isFinite(g.expiresAt) &&
    portsOk;
  return ok ? (e as FleetGrant) : undefined;
}

export function parseLedgerEvent(text: string): LedgerEvent | undefined {
  let v: { kind?: unknown; entry?: unknown; id?: unknown; member?: unknown };
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    return undefined;
  }
  if (v?.kind === 'revoke' && typeof v.id === 'string' && typeof v.member === 'string') return { kind: 'revoke', id: v.id, member: v.member };
  const entry = v?.kind === 'grant' ? parseFleetGrant(JSON.stringify(v.entry)) : undefined;
  return entry && { kind: 'grant', entry };
}
