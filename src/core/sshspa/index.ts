/**
 * knockgate's own SPA format, authorised by an operator's SSH key or certificate and encrypted to
 * the door's X25519 key (docs/ssh-key-spa.md). Pure like core/spa: keys, `now` and random bytes
 * come in; the agent and the key files are the client's, the key ring is read at the edge.
 *
 *   const packet = await encodeSshSpa({ ports: [{ proto: 'tcp', port: 22 }] }, door, signer, { now: Date.now() });
 *   const close = await encodeSshSpaClose({ address: '203.0.113.7', ports: [{ proto: 'tcp', port: 22 }] }, door, signer, { now: Date.now() });
 *   const decision = decideSshSpaPacket(packet, { src }, doorsById, replayStore, Date.now());
 */
export { isSshSpaPacket, sshSpaKind, MAX_SSH_SPA_BYTES, MIN_SSH_SPA_BYTES, type SshSpaKind } from './wire-format.js';
export { doorPrivateKey, generateDoorKey, formatDoorPublicKey, parseDoorPublicKey, rawX25519PrivateKey, type DoorPrivateKey, type DoorPublicKey } from './door-key.js';
export { doorIdNumber, preAuthenticatedDoor } from './envelope.js';
export { encodeSshSpa, encodeSshSpaClose, type SshSigner, type SshSpaFields, type SshSpaEncodeContext } from './ssh-spa-codec.js';
export { decideSshSpaPacket, matchSshSpaDoor, type SshSpaDoorCandidate, type SshSpaPacketDecision, type SshSpaMatch, type SshSpaRefusal } from './ssh-spa-match.js';
export { fingerprintText, type AuthorizedSshKey, type TrustedSshCa, type SshKeyRing, type SshTrust, type SshAuthRefusalReason } from './ssh-credential.js';
export { signatureAlgorithm, signatureBlob, verifyKey, type SshVerifyKey } from './ssh-signature.js';
export type { SshCredential } from './body.js';
export { parseAuthorizedKeysLine, type AuthorizedKeysLine } from './authorized-keys-line.js';
