/** A netlink socket (NETLINK_NETFILTER) in the network namespace it was opened in. */
export interface NftSocket {
  readonly __nftSocket: unique symbol;
}

/** One set-element change, in the `inet` family. Keys and data are the kernel's bytes (each concatenated field padded to 4 bytes). */
export interface SetElementOp {
  /** true: NEWSETELEM (an existing element is not an error); false: DELSETELEM. */
  add: boolean;
  /** With add: an existing element is an error (EEXIST), as nft's `create element`. */
  exclusive?: boolean;
  table: string;
  set: string;
  key: Buffer;
  /** The range's last key, for an interval set of concatenations. */
  keyEnd?: Buffer;
  /** A map element's value. */
  data?: Buffer;
  /** Kernel timeout of an added element, in ms. */
  timeoutMs?: number;
}

/** Thrown by commit: errno's code and message, and which op the kernel refused (index into ops). */
export interface NftSetError extends Error {
  code: string;
  errno: number;
  op?: number;
}

/** Most ops in one commit (one batch). */
export const MAX_OPS: number;

/** Opens a socket in the current network namespace, or in the one `netnsPath` (e.g. /run/netns/NAME) names. */
export function open(netnsPath?: string): NftSocket;

/** Sends `ops` as one batch (one transaction: all or none) and reads the kernel's answer to each. Throws NftSetError. */
export function commit(socket: NftSocket, ops: SetElementOp[]): void;

/** Closes the socket; later commits throw. */
export function close(socket: NftSocket): void;
