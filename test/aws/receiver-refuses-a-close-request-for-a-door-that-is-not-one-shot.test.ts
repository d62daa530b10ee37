import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { closePacket, postPacket, startHttpsReceiverLab, type HttpsReceiverLab } from '../support/https-receiver-lab.js';
import { receiverConfig } from '../support/lambda-fakes.js';

/** A door without one_shot keeps its grant until it expires: a valid close request for it is refused, reason logged. */
const execFileAsync = promisify(execFile);
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x6a).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xa6).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });

let lab: HttpsReceiverLab;
beforeAll(async () => {
  lab = await startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-plain', config: receiverConfig({ sg: SG, door: 'laptops', key: KEY, hmacKey: HMAC_KEY, openFor: '60s' }) });
}, 30_000);
afterAll(async () => {
  await lab?.stop();
});

it('refuses the close request with reason not-one-shot, and the rule stays', async () => {
  const { stdout } = await execFileAsync(process.execPath, [CLI, 'spa', '--url', lab.receiver, '-A', 'tcp/22', '-s', ...KEYS], { env: lab.cliEnv, timeout: 20_000 });
  expect(stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+\n$/);
  expect(await postPacket(lab, closePacket(codec, '127.0.0.1', [{ proto: 'tcp', port: 22 }]))).toEqual({ status: 403, body: 'refused\n' });
  expect(lab.log.filter((l) => l.outcome === 'refused')).toEqual([expect.objectContaining({ src: '127.0.0.1', door: 'laptops', reason: 'not-one-shot', detail: 'door laptops is not one-shot: its grants last until they expire' })]);
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 30_000);
