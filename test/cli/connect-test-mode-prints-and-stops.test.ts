import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { CLI } from '../../src/lab/lab-demo.js';

/**
 * `connect -T` is `spa -T` for a ProxyCommand: it prints what it would send and stops, so
 * nothing reaches the SPA port, the knock port or the service port. Every listener is on
 * loopback; each check ends with a probe of the test's own, which arrives after anything
 * connect could have sent (loopback keeps order), so "only the probe arrived" means nothing else did.
 */
const KEY = Buffer.alloc(32, 0x21).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0x12).toString('base64');
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });

let service: Server;
let knockPort: Server;
let spaPort: UdpSocket;
let serviceConnections = 0;
let knockConnections = 0;
const datagrams: string[] = [];

beforeEach(() => {
  serviceConnections = 0;
  knockConnections = 0;
  datagrams.length = 0;
});

function listen(onConnection: () => void): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      onConnection();
      s.destroy();
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const portOf = (s: Server): number => (s.address() as AddressInfo).port;

beforeAll(async () => {
  service = await listen(() => serviceConnections++);
  knockPort = await listen(() => knockConnections++);
  spaPort = createSocket('udp4');
  spaPort.on('message', (m) => datagrams.push(m.toString()));
  await new Promise<void>((resolve) => spaPort.bind(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((r) => service?.close(r));
  await new Promise((r) => knockPort?.close(r));
  spaPort?.close();
});

function connectCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: '/nonexistent' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Bounded: a connect that went on to relay would never end by itself and fails here.
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Connects once to `server` and resolves when its connection handler has run. */
function probeTcp(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('connection', () => setImmediate(resolve));
    tcpConnect(portOf(server), '127.0.0.1').on('error', reject);
  });
}

function probeUdp(): Promise<void> {
  return new Promise((resolve) => {
    const sender = createSocket('udp4');
    spaPort.once('message', () => setImmediate(() => { sender.close(); resolve(); }));
    sender.send('probe', (spaPort.address() as AddressInfo).port, '127.0.0.1');
  });
}

it('connect -T with SPA options prints the packet on stderr, exits 0, and sends nothing and connects nowhere', async () => {
  const spa = ['-p', String((spaPort.address() as AddressInfo).port), '-a', '127.0.0.1', '--no-rc-file', '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];
  const result = await connectCli(['-T', ...spa, '127.0.0.1', String(portOf(service))]);
  expect(result.code).toBe(0);
  expect(result.stdout).toBe('');
  const [packet, note] = result.stderr.trimEnd().split('\n');
  expect(codec.decode(packet!).message).toBe(`127.0.0.1,tcp/${portOf(service)}`);
  expect(note).toBe('test mode (-T): packet built and checked, not sent');
  await probeUdp();
  await probeTcp(service);
  expect(datagrams).toEqual(['probe']);
  expect(serviceConnections).toBe(1);
}, 30_000);

it('connect -T --knock prints the sequence, exits 0, and neither knocks nor connects', async () => {
  const result = await connectCli(['-T', '--knock', `${portOf(knockPort)},7001:udp`, '127.0.0.1', String(portOf(service))]);
  expect(result.code).toBe(0);
  expect(result.stderr.trimEnd().split('\n')).toEqual([
    `would knock tcp 127.0.0.1:${portOf(knockPort)}`,
    'would knock udp 127.0.0.1:7001',
    'test mode (-T): knock sequence built, not sent',
  ]);
  await probeTcp(knockPort);
  await probeTcp(service);
  expect(knockConnections).toBe(1);
  expect(serviceConnections).toBe(1);
}, 30_000);
