import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { PortSpec } from '../packet.js';
import { formatCloseCommand, type CloseAsk } from '../spa-close.js';
import { encodeBody, encodeUnsignedBody, RANDOM_BYTES, type SshCredential } from './body.js';
import type { DoorPublicKey } from './door-key.js';
import { envelopeHeader, ephemeralKey, sealEnvelope } from './envelope.js';
import { signedData } from './ssh-signature.js';
import { X25519_KEY_BYTES, type SshSpaKind } from './wire-format.js';

/** Signs for one credential: an agent's key, a key file, or either with a certificate. */
export interface SshSigner {
  credential: SshCredential;
  /** The SSH signature blob of `data`. */
  sign(data: Buffer): Promise<Uint8Array>;
}

export interface SshSpaFields {
  ports: PortSpec[];
  /** Absent: the door opens for the packet's source address. */
  allowIp?: string;
  /** Seconds; absent or 0 = the door's open_for. */
  clientTimeout?: number;
}

export interface SshSpaEncodeContext {
  /** Milliseconds since the epoch. */
  now: number;
  /** The ephemeral key and the random value come from here (crypto.randomBytes when absent). */
  randomBytes?: (n: number) => Uint8Array;
}

/** The wire packet (the UDP payload) for a request to `door`, signed by `signer`. */
export function encodeSshSpa(fields: SshSpaFields, door: DoorPublicKey, signer: SshSigner, context: SshSpaEncodeContext): Promise<Buffer> {
  return seal('open', fields, door, signer, context);
}

/**
 * A close request (docs/ssh-key-spa.md §3.1) for the grant of `ask.address` to `ask.ports`: the
 * open's body with the address as its allow IP and no timeout, under the close kind byte.
 */
export function encodeSshSpaClose(ask: CloseAsk, door: DoorPublicKey, signer: SshSigner, context: SshSpaEncodeContext): Promise<Buffer> {
  // Checks the address and ports as the fwknop-format close request does.
  formatCloseCommand(ask);
  return seal('close', { ports: ask.ports, allowIp: ask.address, clientTimeout: 0 }, door, signer, context);
}

async function seal(kind: SshSpaKind, fields: SshSpaFields, door: DoorPublicKey, signer: SshSigner, context: SshSpaEncodeContext): Promise<Buffer> {
  const random = context.randomBytes ?? cryptoRandomBytes;
  const ephemeral = ephemeralKey(random(X25519_KEY_BYTES));
  const header = envelopeHeader(kind, door, ephemeral.publicKey);
  const unsigned = encodeUnsignedBody({
    timestamp: Math.floor(context.now / 1000),
    random: random(RANDOM_BYTES),
    ...(fields.allowIp !== undefined && { allowIp: fields.allowIp }),
    ports: fields.ports,
    clientTimeout: fields.clientTimeout ?? 0,
    credential: signer.credential,
  });
  const signature = await signer.sign(signedData(header, unsigned));
  return sealEnvelope(header, encodeBody(unsigned, signature), door, ephemeral.privateKey);
}
