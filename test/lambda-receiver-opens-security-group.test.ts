import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildReceiver, handler } from '../src/aws/lambda-handler.js';
import { SpaCodec } from '../src/core/spa/index.js';
import { DOOR_TAG_KEY, OWNER_TAG_KEY } from '../src/gates/aws-sg-rules.js';
import type { FakeEc2 } from './support/fake-ec2.js';
import { functionUrlEvent, startFunctionUrl } from './support/function-url-adapter.js';
import { receiverConfig, startLambdaFakes, type LambdaFakes } from './support/lambda-fakes.js';

const execFileAsync = promisify(execFile);
const SG = 'sg-0123456789abcdef0';
const TABLE = 'knockgate-replay';
const KEY = Buffer.alloc(32, 0x5a).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xa5).toString('base64');
const CONFIG = receiverConfig({ sg: SG, door: 'ssh', key: KEY, hmacKey: HMAC_KEY, openFor: '60s' });
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });

let fakes: LambdaFakes;
let fake: FakeEc2;
let env: Record<string, string>;
const savedEnv = { ...process.env };

function packet(allowIp: string, ports = [{ proto: 'tcp' as const, port: 22 }], now = Date.now()): string {
  return codec.encode({ username: 'alice', request: { kind: 'access', allowIp, ports } }, { now });
}

function getEvent(pkt: string, sourceIp: string): Record<string, unknown> {
  return functionUrlEvent({ method: 'GET', path: `/${pkt.replaceAll('+', '-').replaceAll('/', '_')}`, sourceIp, headers: { 'user-agent': 'Fwknop/2.6.10' } });
}

beforeAll(async () => {
  fakes = await startLambdaFakes(TABLE);
  fake = fakes.ec2;
  env = { ...fakes.env, KNOCKGATE_CONFIG: CONFIG };
  Object.assign(process.env, env);
});

afterAll(async () => {
  for (const k of Object.keys(env)) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  await fakes.stop();
});

beforeEach(() => {
  fake.rules.clear();
  fake.calls.length = 0;
});

describe('Lambda SPA receiver: a valid packet over HTTPS opens the Security Group for its sender', () => {
  it('opens 22/tcp for the Function URL caller on a GET /<packet> (the fwknop HTTP form), tagged as knockgate door ssh', async () => {
    const res = await handler(getEvent(packet('203.0.113.7'), '203.0.113.7'));
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/^open 22\/tcp for 203\.0\.113\.7 until /);
    const [rule, ...more] = fake.ingress(SG);
    expect(more).toEqual([]);
    expect([rule?.cidrIpv4, rule?.proto, rule?.fromPort]).toEqual(['203.0.113.7/32', 'tcp', 22]);
    expect(rule?.tags.get(OWNER_TAG_KEY)).toBe('knockgate');
    expect(rule?.tags.get(DOOR_TAG_KEY)).toBe('ssh');
  });

  it('works with the real fwknop 2.6.10 client in HTTP mode through a local Function URL', async () => {
    const url = await startFunctionUrl((event) => handler(event));
    const home = mkdtempSync(join(tmpdir(), 'kgt-fwknop-http-'));
    try {
      await execFileAsync(
        'fwknop',
        ['--no-save-args', '--server-proto', 'http', '-D', '127.0.0.1', '--server-port', String(url.port), '-A', 'tcp/22', '-a', '127.0.0.1', '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY, '--use-hmac'],
        { env: { ...process.env, HOME: home, LOGNAME: 'root' }, timeout: 15_000 },
      );
      const result = await url.nextResult();
      expect([result.statusCode, result.body]).toEqual([200, expect.stringMatching(/^open 22\/tcp for 127\.0\.0\.1 until /)]);
      expect(fake.ingress(SG).map((r) => [r.cidrIpv4, r.fromPort])).toEqual([['127.0.0.1/32', 22]]);
      expect(fake.callsOf('AuthorizeSecurityGroupIngress')).toHaveLength(1);
    } finally {
      await url.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('works the way docs/aws.md tells operators: a ~/.fwknoprc stanza, fwknop -T -B, then the packet POSTed or in the GET path', async () => {
    const url = await startFunctionUrl((event) => handler(event));
    const home = mkdtempSync(join(tmpdir(), 'kgt-fwknop-rc-'));
    try {
      const rc = ['[aws-bastion]', 'ACCESS tcp/22', 'ALLOW_IP source', 'SPA_SERVER localhost', `KEY_BASE64 ${KEY}`, `HMAC_KEY_BASE64 ${HMAC_KEY}`, 'USE_HMAC Y', ''];
      writeFileSync(join(home, '.fwknoprc'), rc.join('\n'), { mode: 0o600 });
      const send = async (how: 'post' | 'get') => {
        const file = join(home, `spa-${how}.pkt`);
        await execFileAsync('fwknop', ['-n', 'aws-bastion', '-T', '-B', file, '--no-save-args'], { env: { ...process.env, HOME: home, LOGNAME: 'root' }, timeout: 15_000 });
        const pkt = readFileSync(file, 'latin1').trim();
        const base = `http://127.0.0.1:${url.port}/`;
        const res = how === 'post' ? await fetch(base, { method: 'POST', body: `${pkt}\n` }) : await fetch(base + pkt.replaceAll('+', '-').replaceAll('/', '_'));
        return [res.status, await res.text()];
      };
      expect(await send('post')).toEqual([200, expect.stringMatching(/^open 22\/tcp for 127\.0\.0\.1 until /)]);
      expect(await send('get')).toEqual([200, expect.stringMatching(/^open 22\/tcp for 127\.0\.0\.1 until /)]);
      expect(fake.ingress(SG).map((r) => [r.cidrIpv4, r.fromPort])).toEqual([['127.0.0.1/32', 22]]);
    } finally {
      await url.close();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('takes an API Gateway REST (payload 1.0) POST with the packet as body; -s (0.0.0.0) opens the IPv6 caller as /128', async () => {
    const event = {
      resource: '/{proxy+}',
      path: '/knock',
      httpMethod: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      requestContext: { stage: 'prod', requestId: 'r-1', identity: { sourceIp: '2001:db8::42' }, httpMethod: 'POST' },
      body: Buffer.from(packet('0.0.0.0')).toString('base64'),
      isBase64Encoded: true,
    };
    const res = await handler(event);
    expect(res.statusCode).toBe(200);
    expect(fake.ingress(SG).map((r) => [r.cidrIpv6, r.fromPort])).toEqual([['2001:db8::42/128', 22]]);
  });

  it('two concurrent invocations in separate containers with the same packet grant once', async () => {
    const [a, b] = await Promise.all([buildReceiver(env), buildReceiver(env)]);
    const event = getEvent(packet('198.51.100.9'), '198.51.100.9');
    const results = await Promise.all([a.handle(event, Date.now()), b.handle(event, Date.now())]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 403]);
    expect(fake.callsOf('AuthorizeSecurityGroupIngress')).toHaveLength(1);
    expect(fake.ingress(SG)).toHaveLength(1);
  });

  it('refuses a replay of a packet that already opened, even from a fresh container', async () => {
    const event = getEvent(packet('198.51.100.10'), '198.51.100.10');
    expect((await handler(event)).statusCode).toBe(200);
    expect((await (await buildReceiver(env)).handle(event, Date.now())).statusCode).toBe(403);
    expect(fake.callsOf('AuthorizeSecurityGroupIngress')).toHaveLength(1);
  });

  it('refuses, without any EC2 call, a wrong key, a stale packet, a port the door does not open, and a packet for another address', async () => {
    const other = new SpaCodec({ encryptionKey: { base64: 'p4VxLk0c0MTw3e1RPDGv0nVw4N1KXtTzKcn8aYVJ0hQ=' }, hmacKey: { base64: HMAC_KEY } });
    const wrongKey = other.encode({ username: 'alice', request: { kind: 'access', allowIp: '203.0.113.7', ports: [{ proto: 'tcp', port: 22 }] } }, { now: Date.now() });
    const cases = [
      getEvent(wrongKey, '203.0.113.7'),
      getEvent(packet('203.0.113.7', undefined, Date.now() - 600_000), '203.0.113.7'),
      getEvent(packet('203.0.113.7', [{ proto: 'tcp', port: 3389 }]), '203.0.113.7'),
      getEvent(packet('192.0.2.1'), '203.0.113.7'),
    ];
    for (const event of cases) expect((await handler(event)).statusCode).toBe(403);
    expect(fake.calls).toEqual([]);
  });

  it('answers every malformed event with a refusal, never an exception', async () => {
    const valid = getEvent(packet('203.0.113.7'), '203.0.113.7');
    const ctx = valid.requestContext as Record<string, unknown>;
    const events: unknown[] = [
      null,
      undefined,
      42,
      'GET / HTTP/1.0',
      [],
      {},
      { version: '2.0' },
      { version: '2.0', requestContext: { http: {} } },
      { ...valid, requestContext: { ...ctx, http: { method: 'GET', path: '/x', sourceIp: 'not-an-ip' } } },
      { ...valid, requestContext: { ...ctx, http: { method: 'GET', path: '/x', sourceIp: 'fe80::1%eth0' } } },
      { ...valid, rawPath: '/' },
      { ...valid, rawPath: `/${'A'.repeat(5000)}` },
      { ...valid, rawPath: '/%00%ff<script>' },
      { ...valid, requestContext: { ...ctx, http: { method: 'DELETE', path: '/x', sourceIp: '203.0.113.7' } } },
      { ...valid, requestContext: { ...ctx, http: { method: 'POST', path: '/', sourceIp: '203.0.113.7' } } },
      { ...valid, requestContext: { ...ctx, http: { method: 'POST', path: '/', sourceIp: '203.0.113.7' } }, body: 'x'.repeat(100_000) },
      { ...valid, requestContext: { ...ctx, http: { method: 'POST', path: '/', sourceIp: '203.0.113.7' } }, body: '%%%', isBase64Encoded: true },
      { httpMethod: 'GET', path: '/abc', requestContext: { identity: { sourceIp: 7 } } },
      { httpMethod: 'GET', path: '/abc', requestContext: { identity: { sourceIp: '203.0.113.7' } } },
    ];
    for (const event of events) {
      const res = await handler(event);
      expect(res.statusCode).toBe(403);
      expect(res.body).toBe('refused\n');
    }
    expect(fake.calls).toEqual([]);
  });

  it('a receiver without its configuration fails with the variable named', async () => {
    await expect(buildReceiver({})).rejects.toThrow(/KNOCKGATE_CONFIG: is not set/);
    await expect(buildReceiver({ KNOCKGATE_CONFIG: CONFIG })).rejects.toThrow(/KNOCKGATE_REPLAY_TABLE: must name the DynamoDB replay table/);
    await expect(buildReceiver({ KNOCKGATE_CONFIG: '[spa_door.ssh]\nopen = ["22/tcp"]\n', KNOCKGATE_REPLAY_TABLE: TABLE })).rejects.toThrow(/key/);
  });
});
