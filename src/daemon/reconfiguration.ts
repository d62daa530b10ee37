import type { KnockgateConfig } from '../config/model.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Gate } from '../gates/gate.js';

/** One entry of the reload loop: a part and the slice of the config it takes. */
export interface Reconfiguration {
  apply(config: KnockgateConfig): void | Promise<void>;
}

export function reconfiguration<T>(part: Reconfigurable<T>, slice: (config: KnockgateConfig) => T): Reconfiguration {
  return { apply: (config) => part.reconfigure(slice(config)) };
}

/**
 * A gate made on first need: knockgate's own nftables table or iptables chains exist only once a
 * door uses them (knockd doors alone leave the firewall to their commands, as knockd does). Once
 * made it stays, so a reload that drops its last door still closes what it holds at stop.
 */
export class OnDemandGate<T, G extends Gate & Reconfigurable<T>> implements Reconfigurable<KnockgateConfig> {
  private made: G | undefined;

  constructor(
    private readonly spec: {
      needed(config: KnockgateConfig): boolean;
      make(config: KnockgateConfig): G;
      slice(config: KnockgateConfig): T;
    },
  ) {}

  get gate(): G | undefined {
    return this.made;
  }

  reconfigure(config: KnockgateConfig): void | Promise<void> {
    if (!this.made && !this.spec.needed(config)) return;
    this.made ??= this.spec.make(config);
    return this.made.reconfigure(this.spec.slice(config));
  }
}
