import { join } from 'node:path';
import { DEFAULT_IPTABLES_SETTINGS, type DoorCommands, type DoorConfig, type GateAction, type KnockdCommandAction, type KnockgateConfig } from '../config/model.js';
import { protectedPorts } from '../core/grant-policy.js';
import type { Gate } from '../gates/gate.js';
import { CommandGate } from '../gates/command.js';
import { IptablesGate } from '../gates/iptables.js';
import { KnockdCommandGate } from '../gates/knockd-command.js';
import { NftablesGate } from '../gates/nftables.js';
import { kernelDoorPlan } from '../gates/nft-kernel-door.js';
import { NftProcess } from '../gates/nft-process.js';
import type { GuardSettings } from '../config/guard-config.js';
import { GuardEnforcer } from '../guard/guard-enforcer.js';
import { GuardWatch } from '../guard/guard-watch.js';
import type { Logger } from '../log/logger.js';
import { defaultCaptureInterfaces, localAddresses } from '../sensors/interfaces.js';
import { PcapSensor } from '../sensors/pcap.js';
import { markSequenceUsed } from '../config/one-time-sequences.js';
import { FileGrantStore } from '../store/file-grant-store.js';
import { spaProtectedPorts } from '../config/spa-config.js';
import { buildSpaService, spaNeedsNat } from './build-spa.js';
import { hasStrictDoor, knockPorts, type DaemonParts } from './daemon.js';

/** The AWS SDK costs ~60 MB and most of a second to load: only a config with [aws] pays for it. */
async function awsSgGate(settings: NonNullable<KnockgateConfig['aws']>, logger: Logger): Promise<Gate> {
  const [{ AwsSgGate }, { createEc2Client }] = await Promise.all([import('../gates/aws-sg.js'), import('../aws/sdk-clients.js')]);
  return new AwsSgGate({ ec2: createEc2Client(settings.region), groups: settings.securityGroups, onStop: settings.onStop, logger });
}

/** Interfaces to capture on: the configured ones, or every non-loopback interface that is up. */
export function captureInterfaces(config: KnockgateConfig): string[] {
  return config.daemon.interfaces.length > 0 ? config.daemon.interfaces : defaultCaptureInterfaces();
}

/**
 * The real adapters for a config: libpcap on the capture interfaces, the nftables gate for
 * knockgate doors, knock or SPA (or the iptables or command gate when a door names one; both
 * command gates share the journal) and the command gate for knockd doors (its pending stop commands journaled in
 * the state directory, so a restart still runs them); the aws-sg gate for doors that open a
 * Security Group (its groups and region are read at start; a reload does not change them).
 */
export async function buildParts(config: KnockgateConfig, logger: Logger): Promise<DaemonParts> {
  const interfaces = captureInterfaces(config);
  if (interfaces.length === 0) throw new Error('no interface to capture on: none is up besides loopback; name one with --interface or daemon.interfaces');
  const commandDoors = new Map<string, KnockdCommandAction>();
  const store = await FileGrantStore.open(join(config.daemon.stateDir, 'knockd-commands.json'), { logger });
  const commandGate = new KnockdCommandGate({ doors: commandDoors, store, logger });
  const ownCommandDoors = new Map<string, DoorCommands>();
  const ownCommandGate = new CommandGate({ doors: ownCommandDoors, store, logger });
  let nftables: NftablesGate | undefined;
  let iptables: IptablesGate | undefined;
  const configure = (next: KnockgateConfig) => {
    commandDoors.clear();
    ownCommandDoors.clear();
    for (const d of next.doors) if (d.action.kind === 'knockd-command') commandDoors.set(d.knock.name, d.action);
    for (const d of next.doors) if (d.action.kind === 'gate' && d.action.commands) ownCommandDoors.set(d.knock.name, d.action.commands);
    for (const d of next.spa?.doors ?? []) if (d.commands) ownCommandDoors.set(d.rules.door, d.commands);
    // iptables and command doors are enforced by their own gate, not by the nftables table.
    const byGate = (gate: string) => next.doors.filter((d) => d.action.kind === 'gate' && d.action.gate === gate);
    const spaUses = (gate: string) => (next.spa?.doors ?? []).some((d) => d.gate === gate);
    const iptablesPorts = [...protectedPorts(byGate('iptables')), ...spaProtectedPorts(next.spa, 'iptables')];
    if (iptablesPorts.length > 0 || iptables || spaUses('iptables')) {
      iptables ??= new IptablesGate({ settings: next.iptables ?? DEFAULT_IPTABLES_SETTINGS, protectedPorts: iptablesPorts, logger });
      iptables.setProtectedPorts(iptablesPorts);
    }
    const nftDoors = next.doors.filter((d) => d.action.kind !== 'gate' || (d.action.gate !== 'iptables' && d.action.gate !== 'command'));
    const ports = [...protectedPorts(nftDoors), ...spaProtectedPorts(next.spa, 'nftables')];
    // knockd doors alone leave the firewall to their commands, as knockd does: no table of ours.
    if (ports.length > 0 || nftables || spaUses('nftables')) {
      nftables ??= new NftablesGate({ settings: next.nftables, protectedPorts: ports, logger });
      nftables.setProtectedPorts(ports);
      nftables.setNat(spaNeedsNat(next));
      nftables.setKernelDoors(kernelDoorPlan(next));
    }
  };
  configure(config);
  const aws = config.aws && (await awsSgGate(config.aws, logger));
  // One gate of each kind, shared by knock and SPA doors; a door's config check guarantees its gate exists.
  const gateNamed = (gate: GateAction['gate']): Gate => {
    if (gate === 'command') return ownCommandGate;
    if (gate === 'iptables' && iptables) return iptables;
    return gate === 'aws-sg' && aws ? aws : nftables!;
  };
  const spa = await buildSpaService(config, (door) => gateNamed(door.gate), logger);
  const spaInterfaces = config.spa?.sensor.kind === 'pcap' ? config.spa.sensor.interfaces : [];
  const sensor = new PcapSensor({
    interfaces: [...new Set([...interfaces, ...spaInterfaces])],
    ports: [...knockPorts(config.doors), ...(spa?.capturePorts() ?? [])],
    newConnections: hasStrictDoor(config.doors),
    logger,
  });
  // The guard's enforcement chain lives in knockgate's table; its nft runs only once enforcement is on.
  const createGuard = (settings: GuardSettings) =>
    new GuardWatch({
      settings,
      logger,
      captureInterfaces: interfaces,
      ownTable: config.nftables.table,
      enforcer: new GuardEnforcer(new NftProcess({ logger }), config.nftables.table, settings.expectations, logger),
    });
  return {
    sensor,
    gateFor: (door: DoorConfig): Gate => (door.action.kind === 'knockd-command' ? commandGate : gateNamed(door.action.gate)),
    gates: () => [...(nftables ? [nftables] : []), ...(iptables ? [iptables] : []), ...(aws ? [aws] : []), commandGate, ownCommandGate],
    reconfigure: configure,
    spendOneTimeSequence: markSequenceUsed,
    localAddresses: () => new Set(interfaces.flatMap((i) => [...localAddresses(i)])),
    ...(spa && { spa }),
    createGuard,
    logger,
  };
}
