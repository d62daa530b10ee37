import type { Identity } from '../grant.js';
import { decideSpaAccess, doorExpired, originAllowed, type SpaAccessDecision, type SpaAccessRules, type SpaPacketOrigin, type SpaRefusal } from '../spa-access.js';
import type { DecodedSpa } from '../spa/spa-message.js';
import { MessageType } from '../spa/message-type.js';
import { SpaError } from '../spa/spa-error.js';
import { decodeBody, type SshSpaBody } from './body.js';
import type { DoorPrivateKey } from './door-key.js';
import { openEnvelope, preAuthenticatedDoor } from './envelope.js';
import { spaReplayDigest } from '../spa/spa-hmac.js';
import { authenticateSsh, type SshAuthRefusalReason, type SshTrust } from './ssh-credential.js';
import { signedData } from './ssh-signature.js';
import { sshSpaKind, type SshSpaKind } from './wire-format.js';
import { CLOSE_COMMAND, formatCloseCommand, parseCloseCommand } from '../spa-close.js';
import type { SpaRequest } from '../spa/access-request.js';

/** An SSH-key door as matching sees it: its key pair, whom it trusts, its access rules. */
export interface SshSpaDoorCandidate<D> {
  door: D;
  key: DoorPrivateKey;
  trust: SshTrust;
  rules: SpaAccessRules;
}

export type SshSpaRefusal = { ok: false; door: string; reason: SshAuthRefusalReason | SpaRefusal['reason'] | 'replay'; detail: string };

export type SshSpaMatch<D> =
  | { decoded: true; door: D; spa: DecodedSpa; decision: SpaAccessDecision; identity: Identity }
  | { decoded: false; error: SpaError; refusal?: undefined; identity?: undefined }
  | { decoded: false; error?: undefined; refusal: SshSpaRefusal; identity?: Identity };

/** A packet `decideSshSpaPacket` decoded, with the replay digest the caller makes durable before it grants. */
export type SshSpaPacketDecision<D> = Exclude<SshSpaMatch<D>, { decoded: true }> | (Extract<SshSpaMatch<D>, { decoded: true }> & { digest: string });

/**
 * An SSH-key packet from the wire to a decision, cheapest first (docs/ssh-key-spa.md §4): its door
 * by id and the pre-auth MAC, the replay digest against what `replay` has seen, then
 * matchSshSpaDoor. The one path of the daemon (UDP, pcap) and the HTTPS receiver alike.
 */
export function decideSshSpaPacket<D>(
  packet: Uint8Array,
  origin: SpaPacketOrigin,
  doors: ReadonlyMap<number, SshSpaDoorCandidate<D>>,
  replay: { seen(digest: string, now: number): boolean },
  now: number,
): SshSpaPacketDecision<D> {
  // The pre-auth MAC before the replay digest: a flood from outside costs one HMAC and no hash more.
  const door = preAuthenticatedDoor(packet, doors);
  if (door instanceof SpaError) return { decoded: false, error: door };
  const digest = spaReplayDigest(packet);
  if (replay.seen(digest, now)) return { decoded: false, refusal: { ok: false, door: door.rules.door, reason: 'replay', detail: 'replay detected: this packet was already used' } };
  const match = matchSshSpaDoor(packet, origin, door, digest, now);
  return match.decoded ? { ...match, digest } : match;
}

/**
 * One packet against the SSH-key door `preAuthenticatedDoor` found for it: decryption, the door's
 * own limits, the signer (one key or one CA, named by the body), and then the same access rules
 * and age window as an fwknop door. Pure; `now` is given.
 */
export function matchSshSpaDoor<D>(packet: Uint8Array, origin: SpaPacketOrigin, door: SshSpaDoorCandidate<D>, replayDigest: string, now: number): SshSpaMatch<D> {
  const opened = openEnvelope(packet, door);
  if (opened instanceof SpaError) return { decoded: false, error: opened };
  const { door: candidate, header, body: plain } = opened;
  const limit = doorExpired(candidate.rules, now) ?? originAllowed(candidate.rules, origin);
  if (limit) return { decoded: false, refusal: limit };
  const body = decodeBody(plain);
  if (body instanceof SpaError) return { decoded: false, error: body };
  // The header decrypted, so its kind byte is one of the two (the AEAD covers it).
  const request = requestOf(body, sshSpaKind(header)!);
  if (request instanceof SpaError) return { decoded: false, error: request };
  const auth = authenticateSsh(body.credential, body.signature, signedData(header, plain.subarray(0, body.signedLength)), candidate.rules.door, candidate.trust, origin.src, now);
  if (!auth.ok) return { decoded: false, refusal: { ok: false, door: candidate.rules.door, reason: auth.reason, detail: auth.detail }, ...(auth.identity && { identity: auth.identity }) };
  const spa = asDecodedSpa(body, request, auth.username, replayDigest);
  return { decoded: true, door: candidate.door, spa, decision: decideSpaAccess(spa, origin, candidate.rules, now), identity: auth.identity };
}

const BAD_CLOSE_BODY: SpaError = Object.freeze(new SpaError('bad-field', 'body: a close request names the granted address and no timeout'));

/**
 * What the body asks, as fwknop's messages say it: an open as an access request, a close as the
 * fwknop-format close request (a command message, spa-close.ts), which the access rules decide as
 * a close and never run. A close whose address or ports no close request can carry is an error.
 */
function requestOf(body: SshSpaBody, kind: SshSpaKind): SpaRequest | SpaError {
  if (kind === 'open') return { kind: 'access', allowIp: body.allowIp ?? '0.0.0.0', ports: body.ports };
  if (body.allowIp === undefined || body.clientTimeout !== 0) return BAD_CLOSE_BODY;
  const ask = parseCloseCommand(`${CLOSE_COMMAND} ${body.allowIp} ${body.ports.map((p) => `${p.proto}/${p.port}`).join(',')}`);
  if (typeof ask !== 'object') return new SpaError('bad-field', `body: ${ask ?? 'not a close request'}`);
  // The address in the form the receiver compares with the source (Node's, for IPv6).
  return { kind: 'command', allowIp: ask.address, command: formatCloseCommand(ask) };
}

/** The body in the shape fwknop's access rules read, so both formats share one policy. */
function asDecodedSpa(body: SshSpaBody, request: SpaRequest, username: string, replayDigest: string): DecodedSpa {
  const message = request.kind === 'command' ? request.command : body.ports.map((p) => `${p.proto}/${p.port}`).join(',');
  return {
    randomValue: Buffer.from(body.random).toString('hex'),
    username,
    timestamp: body.timestamp,
    version: 'ssh-spa-1',
    messageType: request.kind === 'command' ? MessageType.command : body.clientTimeout > 0 ? MessageType.clientTimeoutAccess : MessageType.access,
    message: `${request.allowIp},${message}`,
    request,
    ...(body.clientTimeout > 0 && { clientTimeout: body.clientTimeout }),
    digestType: 'sha256',
    hmacType: undefined,
    replayDigest,
  };
}
