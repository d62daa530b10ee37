import type { KnockgateConfig } from '../../config/model.js';
import { kernelDoorPlan, kernelDoorRuleset } from '../../gates/nft-kernel-door.js';

/**
 * `knockgate check`'s account of a kernel-only door: how its semantics compare with the daemon's,
 * and the exact nft text the daemon installs for it. Empty for a door the daemon tracks.
 */
export function describeKernelDoor(config: KnockgateConfig, doorName: string): string[] {
  const plan = kernelDoorPlan(config);
  const index = plan.doors.findIndex((d) => d.knock.name === doorName);
  if (index < 0) return [];
  const stays = config.nftables.onStop === 'remove' ? 'until a clean stop removes the table (on_stop = "remove")' : 'while knockgate is stopped or killed';
  return [
    `  tracked:   by the kernel (rules and sets in table inet ${plan.table}), no daemon in the packet path; keeps working ${stays}`,
    '  timeout:   from the first knock, as in the daemon: the element added then holds the timeout and later knocks never refresh it',
    `  bound:     ${plan.stageSetSize} sources mid-sequence per address family; when full, new attempts fail closed until elements expire, nobody's progress is evicted`,
    "  differs:   tracked apart from other doors (the daemon lets one door's attempt block starting another); a knockd-mode door resets on its own knock ports only",
    '  ruleset:',
    ...kernelDoorRuleset(plan, index).trimEnd().split('\n').map((l) => `    ${l}`),
  ];
}
