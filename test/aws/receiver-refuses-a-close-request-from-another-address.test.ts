import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { closePacket, postPacket, startHttpsReceiverLab, type HttpsReceiverLab } from '../support/https-receiver-lab.js';
import { receiverConfig } from '../support/lambda-fakes.js';

/**
 * Only the address a one-shot grant was made for can close it: a valid close request (the door's
 * keys) from another address is refused with its reason in the receiver's log, whether it names
 * the granted address or its own, and the rule stays.
 */
const execFileAsync = promisify(execFile);
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x5f).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xf5).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });
const SSH = [{ proto: 'tcp' as const, port: 22 }];

let lab: HttpsReceiverLab;
beforeAll(async () => {
  lab = await startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-elsewhere', config: receiverConfig({ sg: SG, door: 'laptops', key: KEY, hmacKey: HMAC_KEY, openFor: '60s', extra: ['one_shot = true'] }) });
  await execFileAsync(process.execPath, [CLI, 'spa', '--url', lab.receiver, '-A', 'tcp/22', '-s', ...KEYS], { env: lab.cliEnv, timeout: 20_000 });
}, 30_000);
afterAll(async () => {
  await lab?.stop();
});

const refusals = () => lab.log.filter((l) => l.outcome === 'refused');

it('a close request naming the granted address but sent from another is refused, and the rule stays', async () => {
  expect(await postPacket(lab, closePacket(codec, '127.0.0.1', SSH), '127.0.0.2')).toEqual({ status: 403, body: 'refused\n' });
  expect(refusals().at(-1)).toMatchObject({ src: '127.0.0.2', door: 'laptops', reason: 'close-from-another-address', detail: 'close request for 127.0.0.1 came from 127.0.0.2' });
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 20_000);

it('a close request from another address naming itself finds no grant to close, and the rule stays', async () => {
  expect(await postPacket(lab, closePacket(codec, '127.0.0.2', SSH), '127.0.0.2')).toEqual({ status: 403, body: 'refused\n' });
  expect(refusals().at(-1)).toMatchObject({ src: '127.0.0.2', door: 'laptops', reason: 'not-granted', detail: 'no rule lets 127.0.0.2 in to 22/tcp' });
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  expect(lab.log.filter((l) => l.outcome === 'used-up')).toEqual([]);
}, 20_000);
