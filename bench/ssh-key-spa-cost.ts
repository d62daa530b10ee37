import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sshpk from 'sshpk';
import { sshSigner } from '../src/client/ssh-signer.js';
import type { SpaConfig } from '../src/config/model.js';
import type { KnockPacket } from '../src/core/packet.js';
import { SpaCodec } from '../src/core/spa/index.js';
import { encodeSshSpa, generateDoorKey, verifyKey, type AuthorizedSshKey } from '../src/core/sshspa/index.js';
import { MAX_PENDING_SPA, SpaService } from '../src/daemon/spa-service.js';
import { createLogger } from '../src/log/logger.js';
import { FileSshKeyRing } from '../src/store/ssh-key-ring.js';
import { MemoryReplayStore } from '../src/store/memory-replay-store.js';
import { benchDesk, benchSpaConfig, NO_OP_GATE } from './in-process-spa.js';
import { median, ratio, rounded } from './statistics.js';

/**
 * What a packet costs SpaService.onPacket, in-process (no socket, a no-op gate, replay digests in
 * memory): SSH-key doors with 1, 100 and 1,000 authorized keys beside an fwknop door with one
 * stanza. Bad SSH-key packets are a valid packet with one ciphertext byte changed (a flood from
 * anyone without the door's pre-auth key); valid ones are each unique and signed by a key of the
 * ring (Ed25519). Rounds rotate the order of the cases; µs of wall time a packet, medians over the rounds.
 * Usage: node dist/bench/bench/ssh-key-spa-cost.js [bad-per-round] [valid-per-round, at most 256] [rounds]
 */

const SERVICE_PORT = 22;
const SPA_PORT = 62201;

function packetOf(payload: Uint8Array, i: number): KnockPacket {
  return { family: 4, src: `10.200.${(i >> 8) & 255}.${i & 255}`, dst: '10.200.0.1', proto: 'udp', srcPort: 40_000, dstPort: SPA_PORT, tcpFlags: 0, payload, time: Date.now(), iface: 'bench' };
}

/** `count` authorized keys: the operator's own (from ssh-keygen) and count - 1 others. */
function ringOf(operator: sshpk.Key, count: number): FileSshKeyRing {
  const keys = new Map<string, AuthorizedSshKey>();
  const add = (key: sshpk.Key, comment: string) => keys.set(key.fingerprint('sha256').toString(), { ...verifyKey(key), fingerprint: key.fingerprint('sha256').toString(), comment });
  add(operator, 'operator@bench');
  for (let i = 1; i < count; i++) add(sshpk.parseKey(generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string, 'pem'), `op${i}@bench`);
  return new FileSshKeyRing(keys, new Map());
}

function service(config: SpaConfig, readSshKeys?: ConstructorParameters<typeof SpaService>[0]['readSshKeys']): SpaService {
  const logger = createLogger({ level: 'error' });
  return new SpaService({ config, gateFor: () => NO_OP_GATE, desk: benchDesk(logger), replay: new MemoryReplayStore(), logger, ...(readSshKeys && { readSshKeys }) });
}

function usPerPacket(spa: SpaService, packets: readonly Uint8Array[], count: number): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) spa.onPacket(packetOf(packets[i % packets.length]!, i));
  return ((performance.now() - start) * 1000) / count;
}

async function main(): Promise<void> {
  const badPerRound = Number(process.argv[2] ?? 100_000);
  // Valid packets wait for the replay store and the gate: more than MAX_PENDING_SPA at once would be refused as busy.
  const validPerRound = Math.min(Number(process.argv[3] ?? MAX_PENDING_SPA), MAX_PENDING_SPA);
  const rounds = Number(process.argv[4] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), 'kgbench-sshspa-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'operator@bench', '-f', join(dir, 'operator')]);
    const operator = sshpk.parseKey(readFileSync(join(dir, 'operator.pub'), 'utf8'), 'ssh');
    const signer = await sshSigner({ keyFile: join(dir, 'operator') });
    const door = generateDoorKey(randomBytes);
    const fwknop = benchSpaConfig({ key: randomBytes(32).toString('base64'), hmacKey: randomBytes(64).toString('base64'), servicePort: SERVICE_PORT, sensor: { kind: 'udp', port: SPA_PORT }, replay: { kind: 'memory' } });
    const sshConfig: SpaConfig = { ...fwknop, doors: [{ sshKey: { doorKey: { file: 'bench' }, principals: [] }, gate: 'nftables', rules: fwknop.doors[0]!.rules }] };

    const codec = new SpaCodec(fwknop.doors[0]!.keys!);
    const fwknopValid = codec.encode({ username: 'bench', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    const fwknopBad = Buffer.from(fwknopValid.slice(0, -5) + (fwknopValid.at(-5) === 'A' ? 'B' : 'A') + fwknopValid.slice(-4), 'latin1');
    const sshPacket = () => encodeSshSpa({ ports: [{ proto: 'tcp', port: SERVICE_PORT }] }, door, signer, { now: Date.now() });
    const sshBad = await sshPacket();
    sshBad[60]! ^= 1;
    const sshSize = (await sshPacket()).length;

    const sizes = [1, 100, 1_000];
    const sshServices = sizes.map((n) => {
      const ring = ringOf(operator, n);
      return service(sshConfig, () => ({ key: door, ring }));
    });
    const fwknopService = service(fwknop);
    const samples: Record<string, number[]> = { fwknop_bad_1_stanza: [] };
    for (const n of sizes) samples[`ssh_bad_${n}_keys`] = [];
    for (const n of sizes) samples[`ssh_valid_${n}_keys`] = [];
    const badCases: [string, SpaService, Uint8Array][] = [['fwknop_bad_1_stanza', fwknopService, fwknopBad], ...sizes.map((n, i): [string, SpaService, Uint8Array] => [`ssh_bad_${n}_keys`, sshServices[i]!, sshBad])];
    for (let round = 0; round < rounds; round++) {
      // Each round starts with another case, so none always runs on a cold or a warm cache.
      for (let k = 0; k < badCases.length; k++) {
        const [name, spa, packet] = badCases[(round + k) % badCases.length]!;
        samples[name]!.push(usPerPacket(spa, [packet], badPerRound));
      }
      for (const [i, n] of sizes.entries()) {
        // Each valid packet unique (a replay would be refused at the digest), made before the clock starts.
        const valid = await Promise.all(Array.from({ length: validPerRound }, sshPacket));
        samples[`ssh_valid_${n}_keys`]!.push(usPerPacket(sshServices[i]!, valid, validPerRound));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const badRefused = sshServices.map((s) => s.stats().refused['bad-hmac'] ?? 0);
    if (badRefused.some((r) => r !== badPerRound * rounds)) throw new Error(`expected ${badPerRound * rounds} bad-hmac refusals per ring, got ${badRefused.join(', ')}`);
    const granted = sshServices.map((s) => s.stats().granted);
    if (granted.some((g) => g !== validPerRound * rounds)) throw new Error(`expected ${validPerRound * rounds} grants per ring, got ${granted.join(', ')}`);
    const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, rounded(median(v), 2)]));
    const base = median(samples.fwknop_bad_1_stanza!);
    const ratios = Object.fromEntries(Object.entries(samples).filter(([k]) => k !== 'fwknop_bad_1_stanza').map(([k, v]) => [`${k}_vs_fwknop_bad`, rounded(ratio(median(v), base), 2)]));
    process.stdout.write(`${JSON.stringify({ us_per_packet: medians, ratios, ssh_packet_bytes: sshSize, rounds: samples }, (_, v: unknown) => (typeof v === 'number' ? rounded(v, 2) : v))}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
