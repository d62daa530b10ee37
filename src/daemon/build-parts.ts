import { join } from 'node:path';
import { DEFAULT_IPTABLES_SETTINGS } from '../config/defaults.js';
import type { DoorConfig, GateAction, GuardSettings, KnockgateConfig } from '../config/model.js';
import type { Gate } from '../gates/gate.js';
import { CommandGate } from '../gates/command.js';
import { IptablesGate } from '../gates/iptables.js';
import { KnockdCommandGate } from '../gates/knockd-command.js';
import { NftablesGate } from '../gates/nftables.js';
import { kernelDoorPlan } from '../gates/nft-kernel-door.js';
import { NftProcess } from '../gates/nft-process.js';
import { GuardEnforcer } from '../guard/guard-enforcer.js';
import { GuardWatch } from '../guard/guard-watch.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import { defaultInterfacesFor, localAddresses } from '../sensors/interfaces.js';
import { PcapSensor } from '../sensors/pcap.js';
import { markSequenceUsed } from '../config/one-time-sequences.js';
import { FileGrantStore } from '../store/file-grant-store.js';
import { FileSpentSteps } from '../store/spent-step-store.js';
import { buildSpaService, spaNeedsNat } from './build-spa.js';
import type { DaemonParts } from './daemon.js';
import { captureSettings, commandDoors, hostGateNeeded, hostGatePorts, knockdDoors } from './door-ports.js';
import { GrantDesk } from './grant-desk.js';
import { OnDemandGate, reconfiguration } from './reconfiguration.js';

/** The AWS SDK costs ~60 MB and most of a second to load: only a config with [aws] pays for it. */
async function awsSgGate(settings: NonNullable<KnockgateConfig['aws']>, logger: Logger, outcomes: Outcomes): Promise<Gate> {
  const [{ AwsSgGate }, { createEc2Client }] = await Promise.all([import('../gates/aws-sg.js'), import('../aws/sdk-clients.js')]);
  return new AwsSgGate({ ec2: createEc2Client(settings.region), groups: settings.securityGroups, onStop: settings.onStop, logger, outcomes });
}

/** Interfaces to capture on: the configured ones, or the default of the config's kind (knockd's eth0; every up interface). */
export function captureInterfaces(config: KnockgateConfig): string[] {
  return config.daemon.interfaces.length > 0 ? config.daemon.interfaces : defaultInterfacesFor(config.source.kind);
}

/**
 * The real adapters for a config: libpcap on the capture interfaces, the nftables gate for
 * knockgate doors, knock or SPA (or the iptables or command gate when a door names one; both
 * command gates share the journal) and the command gate for knockd doors (its pending stop commands journaled in
 * the state directory, so a restart still runs them); the aws-sg gate for doors that open a
 * Security Group (its groups and region are read at start; a reload does not change them).
 */
export interface StateOptions {
  /** serve --accept-damaged-state: start on salvaged journals instead of refusing. */
  acceptDamagedState?: boolean;
}

export async function buildParts(config: KnockgateConfig, logger: Logger, outcomes: Outcomes = NO_OUTCOMES, state: StateOptions = {}): Promise<DaemonParts> {
  const interfaces = captureInterfaces(config);
  if (interfaces.length === 0) throw new Error('no interface to capture on: none is up besides loopback; name one with --interface or daemon.interfaces');
  const acceptDamaged = state.acceptDamagedState === true;
  const store = await FileGrantStore.open(join(config.daemon.stateDir, 'knockd-commands.json'), { logger, acceptDamaged });
  const spentSteps = await FileSpentSteps.open(join(config.daemon.stateDir, 'spent-steps.journal'), { logger, acceptDamaged });
  const commandGate = new KnockdCommandGate({ doors: knockdDoors(config), store, logger });
  const ownCommandGate = new CommandGate({ doors: commandDoors(config), store, logger });
  const iptables = new OnDemandGate({
    needed: (c) => hostGateNeeded(c, 'iptables'),
    make: (c) => new IptablesGate({ settings: c.iptables ?? DEFAULT_IPTABLES_SETTINGS, protectedPorts: [], logger }),
    slice: (c) => ({ protectedPorts: hostGatePorts(c, 'iptables') }),
  });
  const nftables = new OnDemandGate({
    needed: (c) => hostGateNeeded(c, 'nftables'),
    make: (c) => new NftablesGate({ settings: c.nftables, protectedPorts: [], logger }),
    slice: (c) => ({ protectedPorts: hostGatePorts(c, 'nftables'), nat: spaNeedsNat(c), kernelDoors: kernelDoorPlan(c) }),
  });
  await iptables.reconfigure(config);
  await nftables.reconfigure(config);
  const aws = config.aws && (await awsSgGate(config.aws, logger, outcomes));
  // One gate of each kind, shared by knock and SPA doors; a door's config check guarantees its gate exists.
  const gateNamed = (gate: GateAction['gate']): Gate => {
    if (gate === 'command') return ownCommandGate;
    if (gate === 'iptables' && iptables.gate) return iptables.gate;
    return gate === 'aws-sg' && aws ? aws : nftables.gate!;
  };
  const gates = (): Gate[] => [...(nftables.gate ? [nftables.gate] : []), ...(iptables.gate ? [iptables.gate] : []), ...(aws ? [aws] : []), commandGate, ownCommandGate];
  const desk = new GrantDesk({ logger, gates, outcomes });
  const fleet = config.fleet && (await (await import('./build-fleet.js')).buildFleet(config.fleet, desk, logger, outcomes));
  const spaInterfaces = config.spa?.sensor.kind === 'pcap' ? config.spa.sensor.interfaces : [];
  // The daemon hands the capture its doors as they are now (followDoors), before the sensor starts.
  const sensor = new PcapSensor({ interfaces: [...new Set([...interfaces, ...spaInterfaces])], ports: [], newConnections: false, logger });
  // SPA hands the capture its HMAC screen at once and at each reload of its doors.
  const spa = await buildSpaService(config, (door) => gateNamed(door.gate), desk, logger, outcomes, Date.now, { acceptDamaged, ...(fleet && { fleetReplay: fleet.replay }), captureScreen: (screen) => sensor.screenSpa(screen) });
  // The guard's enforcement chain lives in knockgate's table; its nft runs only once enforcement is on.
  const createGuard = (settings: GuardSettings) =>
    new GuardWatch({
      settings,
      logger,
      outcomes,
      captureInterfaces: interfaces,
      ownTable: config.nftables.table,
      enforcer: new GuardEnforcer(new NftProcess({ logger }), config.nftables.table, settings.expectations, logger),
    });
  return {
    sensor,
    gateFor: (door: DoorConfig): Gate => (door.action.kind === 'knockd-command' ? commandGate : gateNamed(door.action.gate)),
    gates,
    desk,
    reconfigurations: [
      reconfiguration(commandGate, knockdDoors),
      reconfiguration(ownCommandGate, commandDoors),
      reconfiguration(iptables, (c) => c),
      reconfiguration(nftables, (c) => c),
      ...(spa ? [reconfiguration(spa, (c) => c.spa)] : []),
    ],
    followDoors: (doors, firstConnections) => sensor.reconfigure(captureSettings(doors, spa?.capturePorts() ?? [], firstConnections)),
    spendOneTimeSequence: markSequenceUsed,
    spentSteps,
    localAddresses: () => new Set(interfaces.flatMap((i) => [...localAddresses(i)])),
    interfaces,
    ...(spa && { spa }),
    ...(fleet && { fleet: fleet.member }),
    createGuard,
    logger,
    outcomes,
  };
}
