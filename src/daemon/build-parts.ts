import { join } from 'node:path';
import type { DoorConfig, KnockdCommandAction, KnockgateConfig } from '../config/model.js';
import { protectedPorts } from '../core/grant-policy.js';
import { AwsSgGate } from '../gates/aws-sg.js';
import type { Gate } from '../gates/gate.js';
import { createEc2Client } from '../aws/sdk-clients.js';
import { KnockdCommandGate } from '../gates/knockd-command.js';
import { NftablesGate } from '../gates/nftables.js';
import type { Logger } from '../log/logger.js';
import { defaultCaptureInterfaces, localAddresses } from '../sensors/interfaces.js';
import { PcapSensor } from '../sensors/pcap.js';
import { FileGrantStore } from '../store/file-grant-store.js';
import { spaProtectedPorts } from '../config/spa-config.js';
import { buildSpaService, spaNeedsNat } from './build-spa.js';
import { hasStrictDoor, knockPorts, type DaemonParts } from './daemon.js';

/** Interfaces to capture on: the configured ones, or every non-loopback interface that is up. */
export function captureInterfaces(config: KnockgateConfig): string[] {
  return config.daemon.interfaces.length > 0 ? config.daemon.interfaces : defaultCaptureInterfaces();
}

/**
 * The real adapters for a config: libpcap on the capture interfaces, the nftables gate for
 * knockgate doors and the command gate for knockd doors (its pending stop commands journaled in
 * the state directory, so a restart still runs them); the aws-sg gate for doors that open a
 * Security Group (its groups and region are read at start; a reload does not change them).
 */
export async function buildParts(config: KnockgateConfig, logger: Logger): Promise<DaemonParts> {
  const interfaces = captureInterfaces(config);
  if (interfaces.length === 0) throw new Error('no interface to capture on: none is up besides loopback; name one with --interface or daemon.interfaces');
  const commandDoors = new Map<string, KnockdCommandAction>();
  const store = await FileGrantStore.open(join(config.daemon.stateDir, 'knockd-commands.json'), { logger });
  const commandGate = new KnockdCommandGate({ doors: commandDoors, store, logger });
  let nftables: NftablesGate | undefined;
  const configure = (next: KnockgateConfig) => {
    commandDoors.clear();
    for (const d of next.doors) if (d.action.kind === 'knockd-command') commandDoors.set(d.knock.name, d.action);
    const ports = [...protectedPorts(next.doors), ...spaProtectedPorts(next.spa)];
    // knockd doors alone leave the firewall to their commands, as knockd does: no table of ours.
    if (ports.length > 0 || nftables || next.spa?.doors.length) {
      nftables ??= new NftablesGate({ settings: next.nftables, protectedPorts: ports, logger });
      nftables.setProtectedPorts(ports);
      nftables.setNat(spaNeedsNat(next));
    }
  };
  configure(config);
  const spa = nftables && (await buildSpaService(config, nftables, logger));
  const spaInterfaces = config.spa?.sensor.kind === 'pcap' ? config.spa.sensor.interfaces : [];
  const sensor = new PcapSensor({
    interfaces: [...new Set([...interfaces, ...spaInterfaces])],
    ports: [...knockPorts(config.doors), ...(spa?.capturePorts() ?? [])],
    newConnections: hasStrictDoor(config.doors),
    logger,
  });
  const aws = config.aws && new AwsSgGate({ ec2: createEc2Client(config.aws.region), groups: config.aws.securityGroups, onStop: config.aws.onStop, logger });
  return {
    sensor,
    gateFor: (door: DoorConfig): Gate => (door.action.kind === 'knockd-command' ? commandGate : door.action.gate === 'aws-sg' && aws ? aws : nftables!),
    gates: () => [...(nftables ? [nftables] : []), ...(aws ? [aws] : []), commandGate],
    reconfigure: configure,
    localAddresses: () => new Set(interfaces.flatMap((i) => [...localAddresses(i)])),
    ...(spa && { spa }),
    logger,
  };
}
