/** fwknop's message types (libfko FKO_*_MSG) and the wire value of each. */
export const MessageType = {
  /** FKO_COMMAND_MSG: run a command on the server. */
  command: 0,
  /** FKO_ACCESS_MSG: open ports for the allow IP (the default). */
  access: 1,
  /** FKO_NAT_ACCESS_MSG: forward an opened port to a host behind the server. */
  natAccess: 2,
  /** FKO_CLIENT_TIMEOUT_ACCESS_MSG */
  clientTimeoutAccess: 3,
  /** FKO_CLIENT_TIMEOUT_NAT_ACCESS_MSG */
  clientTimeoutNatAccess: 4,
  /** FKO_LOCAL_NAT_ACCESS_MSG: redirect an opened port to a port on the server itself. */
  localNatAccess: 5,
  /** FKO_CLIENT_TIMEOUT_LOCAL_NAT_ACCESS_MSG */
  clientTimeoutLocalNatAccess: 6,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export function isMessageType(n: number): n is MessageType {
  return Number.isInteger(n) && n >= 0 && n <= 6;
}

export function carriesNatAccess(type: MessageType): boolean {
  return type === 2 || type === 4 || type === 5 || type === 6;
}

export function carriesClientTimeout(type: MessageType): boolean {
  return type === 3 || type === 4 || type === 6;
}

/**
 * fwknop's encoder picks the timeout variant from the timeout itself: a timeout > 0 turns 1, 2, 5
 * into 3, 4, 6, and none turns them back. A command never carries a timeout.
 */
export function typeForTimeout(type: MessageType, clientTimeout: number): MessageType {
  const withTimeout: Partial<Record<MessageType, MessageType>> = { 1: 3, 2: 4, 5: 6 };
  const withoutTimeout: Partial<Record<MessageType, MessageType>> = { 3: 1, 4: 2, 6: 5 };
  return (clientTimeout > 0 ? withTimeout[type] : withoutTimeout[type]) ?? type;
}
