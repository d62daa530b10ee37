import { createRequire } from 'node:module';
import type { NftSetError, NftSocket } from 'knockgate-nftset';
import { GateError } from './gate.js';
import type { SetElementOp } from './nft-set-ops.js';

const require = createRequire(import.meta.url);

/**
 * Grants and revokes as set-element messages on a netlink socket (the knockgate-nftset addon,
 * libnftnl), instead of a line to the long-lived `nft -i`: ~30 µs a grant against ~0.5 ms or more,
 * as no process parses text and writes answers in between. `KNOCKGATE_NFT_NETLINK=0` (or the
 * gate's `netlink: false`) keeps every grant on `nft -i`; so does an addon that does not load.
 */
export const NETLINK_ENV = 'KNOCKGATE_NFT_NETLINK';

type Addon = typeof import('knockgate-nftset');

/** Where the gate's set elements go, and why when not over netlink. */
export type SetElementPath = { kind: 'netlink'; netns?: string } | { kind: 'nft'; reason: string };

/**
 * The namespace nft runs in, read from the gate's nft argv: plain `nft` (this process's own) or
 * `ip netns exec NAME nft`. Any other wrapper could run nft anywhere, so the addon is not used.
 */
export function netlinkPath(nftCommand: readonly string[], enabled: boolean): SetElementPath {
  if (!enabled) return { kind: 'nft', reason: `netlink turned off (${NETLINK_ENV}=0 or the gate's netlink option)` };
  if (nftCommand.length === 1 && nftCommand[0] === 'nft') return { kind: 'netlink' };
  const [ip, netns, exec, name, nft, ...rest] = nftCommand;
  if (ip === 'ip' && netns === 'netns' && exec === 'exec' && name && !name.includes('/') && nft === 'nft' && rest.length === 0) return { kind: 'netlink', netns: name };
  return { kind: 'nft', reason: `nft runs as "${nftCommand.join(' ')}", whose network namespace the addon cannot tell` };
}

/** Whether the environment leaves netlink on (anything but `0`, `false`, `off`, `no`). */
export function netlinkEnabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return !/^(?:0|false|off|no)$/i.test(env[NETLINK_ENV]?.trim() ?? '');
}

/** A netlink socket in the gate's namespace; commit() is one transaction, applied when it returns. */
export class NftNetlink {
  private constructor(
    private readonly addon: Addon,
    private socket: NftSocket | undefined,
  ) {}

  /** Loads the addon and opens the socket; a reason instead when either cannot be done. */
  static open(netns: string | undefined): NftNetlink | { reason: string } {
    let addon: Addon;
    try {
      addon = require('knockgate-nftset') as Addon;
    } catch (e) {
      return { reason: `the netlink addon (knockgate-nftset) did not load: ${(e as Error).message.split('\n')[0]}` };
    }
    try {
      return new NftNetlink(addon, addon.open(netns === undefined ? undefined : `/run/netns/${netns}`));
    } catch (e) {
      return { reason: `cannot open a netlink socket${netns === undefined ? '' : ` in namespace ${netns}`}: ${(e as Error).message}` };
    }
  }

  /** Whether `ops` go in one batch (the addon's bound); a larger transaction goes to nft. */
  fits(ops: readonly SetElementOp[]): boolean {
    return ops.length <= this.addon.MAX_OPS;
  }

  /**
   * Sends the ops as one batch and reads the kernel's answers. The kernel works a batch inside
   * the send, so this is synchronous and short. Throws GateError whose stderr carries errno's
   * text (as nft would print it: "Too many open files" for a full set, "No such file or
   * directory" for a missing one); `command` describes the transaction in nft's words.
   */
  commit(ops: SetElementOp[], command: () => string): void {
    try {
      this.addon.commit(this.socket ?? this.closed(command), ops);
    } catch (e) {
      throw netlinkError(e, command);
    }
  }

  private closed(command: () => string): never {
    throw new GateError('netlink socket closed', 'nftables', command());
  }

  /**
   * `create` (exclusive adds), and when the kernel refuses it because an element is there
   * (EEXIST; or ENFILE, as a kernel that counts a full set before it looks for the element says)
   * `refresh` in a second batch: a refused batch applied nothing. False when `refresh` does not
   * fit one batch (the caller sends it through nft).
   */
  commitCreating(create: SetElementOp[], refresh: () => SetElementOp[], command: () => string): boolean {
    try {
      this.addon.commit(this.socket ?? this.closed(command), create);
      return true;
    } catch (e) {
      const code = (e as NftSetError).code;
      if (code !== 'EEXIST' && code !== 'ENFILE') throw netlinkError(e, command);
    }
    const ops = refresh();
    if (!this.fits(ops)) return false;
    this.commit(ops, command);
    return true;
  }

  close(): void {
    if (this.socket) this.addon.close(this.socket);
    this.socket = undefined;
  }
}

function netlinkError(e: unknown, command: () => string): GateError {
  if (e instanceof GateError) return e;
  const message = (e as NftSetError).message;
  return new GateError(`nft netlink: ${message}`, 'nftables', command(), message);
}
