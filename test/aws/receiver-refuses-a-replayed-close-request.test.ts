import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { closePacket, postPacket, startHttpsReceiverLab, type HttpsReceiverLab } from '../support/https-receiver-lab.js';
import { receiverConfig } from '../support/lambda-fakes.js';

/**
 * A close request is an SPA packet like an open: its digest goes into the same replay store, so
 * a captured close request sent again cannot close the grant a later open made.
 */
const execFileAsync = promisify(execFile);
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x4e).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xe4).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });

let lab: HttpsReceiverLab;
beforeAll(async () => {
  lab = await startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-replayed', config: receiverConfig({ sg: SG, door: 'laptops', key: KEY, hmacKey: HMAC_KEY, openFor: '60s', extra: ['one_shot = true'] }) });
}, 30_000);
afterAll(async () => {
  await lab?.stop();
});

const open = () => execFileAsync(process.execPath, [CLI, 'spa', '--url', lab.receiver, '-A', 'tcp/22', '-s', ...KEYS], { env: lab.cliEnv, timeout: 20_000 });

it('a close request sent a second time is refused as a replay, and the grant made in between stays', async () => {
  expect((await open()).stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+ \(one-shot\)\n$/);
  const close = closePacket(codec, '127.0.0.1', [{ proto: 'tcp', port: 22 }]);
  expect(await postPacket(lab, close)).toEqual({ status: 200, body: 'closed 22/tcp for 127.0.0.1\n' });
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);

  await open();
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  expect(await postPacket(lab, close)).toEqual({ status: 403, body: 'refused\n' });
  expect(lab.log.filter((l) => l.outcome === 'refused')).toEqual([expect.objectContaining({ src: '127.0.0.1', reason: 'replay', detail: 'digest already used' })]);
  expect(lab.log.filter((l) => l.outcome === 'used-up')).toHaveLength(1);
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 40_000);
