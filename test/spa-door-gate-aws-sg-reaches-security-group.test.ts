import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';
import { SpaCodec } from '../src/core/spa/index.js';
import { buildParts } from '../src/daemon/build-parts.js';
import type { DaemonParts } from '../src/daemon/daemon.js';
import { waitFor } from '../src/lab/wait.js';
import { createLogger } from '../src/log/logger.js';
import { FakeEc2 } from './support/fake-ec2.js';

const SG = 'sg-0123456789abcdef0';
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const CLIENT = '198.51.100.7';
const ENV_KEYS = ['AWS_ENDPOINT_URL_EC2', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED'] as const;
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

describe('an SPA door with gate = "aws-sg" opens through the daemon\'s AwsSgGate', () => {
  let fake: FakeEc2;
  let dir: string;
  let parts: DaemonParts;

  beforeAll(async () => {
    fake = new FakeEc2();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_EC2: await fake.start(),
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDFAKE',
      AWS_SECRET_ACCESS_KEY: 'fake',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    dir = mkdtempSync(join(tmpdir(), 'kgt-spa-aws-'));
    const config = parseKnockgateToml(
      `[daemon]
interfaces = ["lo"]
state_dir = "${dir}"
control_socket = "${join(dir, 'control.sock')}"
[aws]
security_groups = ["${SG}"]
[spa_door.cloud]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
open = ["22/tcp"]
open_for = "30s"
gate = "aws-sg"
`,
      join(dir, 'knockgate.toml'),
    );
    parts = await buildParts(config, createLogger({ level: 'silent' }));
  });
  afterAll(async () => {
    await parts?.spa?.stop();
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    rmSync(dir, { recursive: true, force: true });
    await fake.stop();
  });

  it('builds no host gate for it, and a valid packet becomes an ingress rule for the sender in the group', async () => {
    expect(parts.gates().map((g) => g.name)).not.toContain('nftables');
    const spa = parts.spa!;
    const payload = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } }).encode(
      { username: 'ops', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: 22 }] } },
      { now: Date.now() },
    );
    spa.onPacket({ family: 4, src: CLIENT, dst: '127.0.0.1', proto: 'udp', srcPort: 40_000, dstPort: 62_201, tcpFlags: 0, payload: Buffer.from(payload), time: Date.now(), iface: 'lo' });
    await waitFor(() => spa.stats().granted === 1 || undefined, { timeoutMs: 10_000, what: 'the SPA grant' });
    expect(fake.ingress(SG).map((r) => ({ proto: r.proto, from: r.fromPort, to: r.toPort, cidr: r.cidrIpv4 }))).toEqual([{ proto: 'tcp', from: 22, to: 22, cidr: `${CLIENT}/32` }]);
  });

  it('refuses an aws-sg SPA door without [aws], and NAT on a gate other than nftables, naming file:line:field', () => {
    const door = `[spa_door.cloud]\nkey_base64 = "${KEY}"\nopen = ["22/tcp"]\ngate = "aws-sg"\nhmac_key_base64 = "${HMAC}"\n`;
    expect(() => parseKnockgateToml(door, 'a.toml')).toThrow(/a\.toml:4: spa_door\.cloud\.gate: gate "aws-sg" needs an \[aws\] table/);
    const nat = `[spa_door.fwd]\nkey_base64 = "${KEY}"\nopen = ["2222/tcp"]\nnat_targets = ["10.0.1.5:22"]\ngate = "iptables"\nhmac_key_base64 = "${HMAC}"\n`;
    expect(() => parseKnockgateToml(nat, 'b.toml')).toThrow(/b\.toml:4: spa_door\.fwd\.nat_targets: NAT access needs gate = "nftables"/);
    const stray = `[spa_door.x]\nkey_base64 = "${KEY}"\nopen = ["22/tcp"]\nstart = ["/bin/true"]\nhmac_key_base64 = "${HMAC}"\n`;
    expect(() => parseKnockgateToml(stray, 'c.toml')).toThrow(/c\.toml:4: spa_door\.x\.start: only a door with gate = "command" runs commands/);
  });
});
