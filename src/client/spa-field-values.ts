import { DIGEST_INFO, type DecodedSpa, type EncryptionMode } from '../core/spa/index.js';

/** libfko's names and numbers, so `-v` output reads (and parses) like fwknop's own. */
const MESSAGE_TYPE_NAMES = [
  'Command msg',
  'Access msg',
  'NAT access msg',
  'Client timeout access msg',
  'Client timeout NAT access msg',
  'Local NAT access msg',
  'Client timeout local NAT access msg',
] as const;
const ENCRYPTION_MODE_IDS: Readonly<Record<EncryptionMode, number>> = { ecb: 1, cbc: 2, cfb: 3, ofb: 5, ctr: 6, legacy: 8 };

/** The "SPA Field Values" block fwknop -v prints, for a packet knockgate built and decoded again. */
export function formatSpaFieldValues(spa: DecodedSpa, mode: EncryptionMode, packet: string): string {
  const hmac = spa.hmacType ? `${DIGEST_INFO[spa.hmacType].fkoId} (${spa.hmacType.toUpperCase()})` : '0 (None)';
  const rows: [string, string][] = [
    ['Random Value', spa.randomValue],
    ['Username', spa.username],
    ['Timestamp', String(spa.timestamp)],
    ['FKO Version', spa.version],
    ['Message Type', `${spa.messageType} (${MESSAGE_TYPE_NAMES[spa.messageType]})`],
    ['Message String', spa.message],
    ['Nat Access', spa.natAccess ? `${spa.natAccess.host},${spa.natAccess.port}` : '<NULL>'],
    ['Server Auth', spa.serverAuth ?? '<NULL>'],
    ['Client Timeout', String(spa.clientTimeout ?? 0)],
    ['Digest Type', `${DIGEST_INFO[spa.digestType].fkoId} (${spa.digestType.toUpperCase()})`],
    ['HMAC Type', hmac],
    ['Encryption Type', '1 (Rijndael)'],
    ['Encryption Mode', `${ENCRYPTION_MODE_IDS[mode]} (${mode === 'legacy' ? 'Legacy' : mode.toUpperCase()})`],
    ['Final SPA Data', packet],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return ['SPA Field Values:', '=================', ...rows.map(([label, value]) => `${label.padStart(width)}: ${value}`), ''].join('\n');
}
