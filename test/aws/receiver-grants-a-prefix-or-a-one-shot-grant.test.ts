import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildReceiver } from '../../src/aws/lambda-handler.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { functionUrlEvent } from '../support/function-url-adapter.js';
import { receiverConfig, startLambdaFakes, type LambdaFakes } from '../support/lambda-fakes.js';

/**
 * The HTTPS receiver honours grant_prefix (the Security Group rule is for the caller's network)
 * and one_shot: it never sees the connection a grant lets in, so its answer tells the client,
 * on a second line older clients do not read, to send a close request once connected.
 */
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x5a).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xa5).toString('base64');
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });
const config = (extra: string[]) => receiverConfig({ sg: SG, door: 'ssh', key: KEY, hmacKey: HMAC_KEY, openFor: '60s', extra });

let fakes: LambdaFakes;
const savedEnv = { ...process.env };
beforeAll(async () => {
  fakes = await startLambdaFakes('knockgate-replay-prefix');
  // The SDK clients read the region, the endpoints and the credentials from the environment, as in a Lambda.
  Object.assign(process.env, fakes.env);
});
afterAll(async () => {
  for (const k of Object.keys(fakes?.env ?? {})) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  await fakes?.stop();
});

it('with grant_prefix = 24 the rule is for the caller\'s /24, and the answer names it', async () => {
  const receiver = await buildReceiver({ ...fakes.env, KNOCKGATE_CONFIG: config(['grant_prefix = 24']) });
  const pkt = codec.encode({ username: 'alice', request: { kind: 'access', allowIp: '203.0.113.7', ports: [{ proto: 'tcp', port: 22 }] } }, { now: Date.now() });
  const event = functionUrlEvent({ method: 'GET', path: `/${pkt.replaceAll('+', '-').replaceAll('/', '_')}`, sourceIp: '203.0.113.7', headers: { 'user-agent': 'Fwknop/2.6.10' } });
  const res = await receiver.handle(event, Date.now());
  expect(res.statusCode).toBe(200);
  expect(res.body).toMatch(/^open 22\/tcp for 203\.0\.113\.0\/24 until /);
  expect(fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['203.0.113.0/24']);
});

it('with one_shot the rule is for the caller, and a second answer line asks for the close request', async () => {
  const receiver = await buildReceiver({ ...fakes.env, KNOCKGATE_CONFIG: config(['one_shot = true']) });
  const pkt = codec.encode({ username: 'alice', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: 22 }] } }, { now: Date.now() });
  const res = await receiver.handle(functionUrlEvent({ method: 'POST', path: '/', sourceIp: '198.51.100.9', body: pkt }), Date.now());
  expect(res.statusCode).toBe(200);
  expect(res.body).toMatch(/^open 22\/tcp for 198\.51\.100\.9 until \S+\none-shot: send a close request once connected \(knockgate connect does\), or the rule stays until it expires\n$/);
  expect(fakes.ec2.ingress(SG).filter((r) => r.cidrIpv4 === '198.51.100.9/32')).toHaveLength(1);
});
