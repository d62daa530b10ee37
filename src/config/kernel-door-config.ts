import { boolean, leafOr } from './config-values.js';
import type { GateAction } from './model.js';
import type { KeyPath } from './toml-locate.js';

/** A door's `kernel` key: track its knocks in nftables rules instead of the daemon (gates/nft-kernel-door.ts). */
export const doorKernelKeys = {
  kernel: leafOr(boolean, false),
};

interface KernelDoorValues {
  kernel: boolean;
  gate: GateAction['gate'];
  secret?: unknown;
  one_time_sequences?: unknown;
}

/** What the kernel ruleset cannot reproduce is refused here rather than run differently. */
export function crossCheckKernelDoor(name: string, d: KernelDoorValues): { path: KeyPath; message: string }[] {
  if (!d.kernel) return [];
  const at: KeyPath = ['door', name, 'kernel'];
  const out: { path: KeyPath; message: string }[] = [];
  if (d.gate !== 'nftables') {
    out.push({ path: at, message: `a kernel-only door opens by adding to knockgate's nftables grant sets; it cannot use gate = "${d.gate}" (remove kernel or set gate = "nftables")` });
  }
  if (d.secret !== undefined || d.one_time_sequences !== undefined) {
    out.push({ path: at, message: 'a kernel-only door needs a fixed `sequence`: a time-derived or one-time sequence changes, and only the daemon can follow it' });
  }
  return out;
}
