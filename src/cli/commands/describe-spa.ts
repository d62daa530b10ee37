import { formatDuration } from '../../config/duration.js';
import type { SpaConfig, SpaDoorConfig, SshKeySource } from '../../config/model.js';
import type { AddressRange } from '../../core/spa-access.js';
import { describeScope } from './describe-scope.js';

/** `knockgate check`'s account of SPA: where packets are read, which digests are kept, and each door. */
export function describeSpa(spa: SpaConfig): string[] {
  const sensor = spa.sensor.kind === 'udp'
    ? `UDP socket on ${spa.sensor.bind ?? '::'} port ${spa.sensor.port}`
    : `capture udp/${spa.sensor.port}${spa.sensor.interfaces.length > 0 ? ` on ${spa.sensor.interfaces.join(', ')}` : ''}`;
  const replay = spa.replay.kind === 'file' ? `file ${spa.replay.path}` : spa.replay.kind === 'redis' ? `redis ${spa.replay.url}` : 'memory only (lost on restart)';
  const age = spa.maxPacketAgeMs === undefined ? 'aging off' : `±${formatDuration(spa.maxPacketAgeMs)}`;
  const lines = [`SPA from ${spa.source}: ${spa.doors.length} door${spa.doors.length === 1 ? '' : 's'}, ${sensor}, packet age ${age}, replay digests in ${replay}`];
  for (const door of spa.doors) lines.push('', ...describeSpaDoor(door));
  return lines;
}

function describeSpaDoor({ keys, sshKey, rules, gate, scope }: SpaDoorConfig): string[] {
  const ports = rules.ports.mode === 'any' ? 'any port the client asks for (knockgate closes none of them: the host firewall must, with nftables.host_chain)' : `${rules.ports.open.map((p) => `${p.port}/${p.proto}`).join(', ')} (${rules.ports.mode === 'subset' ? 'requests must be a subset' : 'whatever is asked'})`;
  const lines = [
    `spa door ${rules.door}`,
    `  sources:   ${ranges(rules.sources)}${rules.destinations.length > 0 ? `; destinations ${ranges(rules.destinations)}` : ''}`,
    keys
      ? `  keys:      ${keys.hmacKey ? `HMAC ${keys.hmacType ?? 'sha256'}` : 'NO HMAC (packets are not authenticated before decryption)'}, ${keys.encryptionMode ?? 'cbc'}`
      : `  SSH keys:  ${[sshKey.authorizedKeys && `authorized_keys ${keySourceName(sshKey.authorizedKeys)}`, sshKey.trustedUserCa && `certificates of ${keySourceName(sshKey.trustedUserCa)} for ${sshKey.principals.join(', ')}`].filter(Boolean).join('; ')}; door key ${keySourceName(sshKey.doorKey)}`,
    `  opens:     ${ports} for ${formatDuration(rules.accessTimeoutMs)}, client may ask up to ${formatDuration(rules.maxClientTimeoutMs)}`,
    `  allow IP:  ${rules.allowIp === 'source' ? 'must be the packet source' : 'opened as requested'}${rules.requireSourceAddress ? ', 0.0.0.0 refused' : ', 0.0.0.0 = packet source'}`,
    `  gate:      ${gate}`,
    ...describeScope(scope),
  ];
  if (rules.restrictPorts.length > 0) lines.push(`  never:     ${rules.restrictPorts.map((p) => `${p.port}/${p.proto}`).join(', ')}`);
  if (rules.usernames.length > 0) lines.push(`  users:     ${rules.usernames.join(', ')}`);
  if (rules.natTargets.length > 0) lines.push(`  NAT to:    ${rules.natTargets.map((t) => `${t.host}:${t.port}`).join(', ')}`);
  if (rules.commands) lines.push('  commands:  ENABLED (run without a shell, as the daemon user)');
  if (rules.expiresAt !== undefined) lines.push(`  expires:   ${new Date(rules.expiresAt).toISOString()}`);
  return lines;
}

function ranges(list: AddressRange[]): string {
  return list.length === 0 ? 'any' : list.map((r) => `${r.address}/${r.prefix}`).join(', ');
}

/** A key's file, or the config key holding its text. */
function keySourceName(source: SshKeySource): string {
  return source.file ?? `${source.in.field} (in the config)`;
}
