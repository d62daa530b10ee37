import type { Grant, Identity } from '../core/grant.js';
import type { GrantScope } from '../core/grant-scope.js';
import { grantToClose, type SpaCloseDecision } from '../core/spa-access.js';
import type { GrantDesk } from '../daemon/grant-desk.js';
import type { Gate } from '../gates/gate.js';

export type CloseResult =
  | { outcome: 'closed'; grant: Grant }
  | { outcome: 'refused'; reason: 'not-one-shot' | 'not-granted'; detail: string }
  | { outcome: 'gate-error'; err: unknown };

/**
 * An authenticated close request at the receiver, which never sees the connection a one-shot
 * grant lets in: the client says when it is up. Only a one-shot door's grant closes this way, and
 * only ports the gate holds for the sender now (read back, since another invocation may have made
 * the grant); the gate's revoke closes them, and the desk writes the `used-up` lines with
 * `identity`: the door, or the SSH key or certificate that signed the close request.
 */
export async function closeOneShot(decision: SpaCloseDecision, scope: GrantScope | undefined, gate: Gate, desk: GrantDesk, now: number, identity: Identity): Promise<CloseResult> {
  const asked = grantToClose(decision, now);
  const ports = asked.ports.map((p) => `${p.port}/${p.proto}`).join(',');
  if (!scope?.oneShot) return { outcome: 'refused', reason: 'not-one-shot', detail: `door ${decision.door} is not one-shot: its grants last until they expire` };
  try {
    const entries = await gate.list();
    const held = asked.ports.filter((p) => entries.some((e) => e.src === asked.src && e.prefix === undefined && e.proto === p.proto && e.port === p.port));
    if (held.length === 0) return { outcome: 'refused', reason: 'not-granted', detail: `no rule lets ${asked.src} in to ${ports}` };
    const grant = { ...asked, ports: held, identity };
    await gate.revoke(grant);
    desk.closedByClient(grant, gate.name);
    return { outcome: 'closed', grant };
  } catch (err) {
    return { outcome: 'gate-error', err };
  }
}
