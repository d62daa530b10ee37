/** The kernel's record of who is at the other end of a connected Unix socket (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED of the connected Unix socket `fd`; throws an Error with errno's message if it is not one. */
export function peerCredentials(fd: number): PeerCredentials;

/**
 * Sends `message` as one datagram to the Unix datagram socket at `path` (a leading `@` names an
 * abstract socket, as in $NOTIFY_SOCKET). Throws an Error with errno's message on failure.
 */
export function sendDatagram(path: string, message: Buffer): void;
