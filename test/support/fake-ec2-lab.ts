import { join } from 'node:path';
import type { DaemonLab } from './daemon-lab.js';
import { FakeEc2 } from './fake-ec2.js';

/** Where the daemon reaches the fake EC2, on the server namespace's own loopback. */
export const FAKE_EC2_PORT = 4566;

/**
 * The daemon captures inside the lab's server namespace, where the test's 127.0.0.1 does not
 * exist; the fake EC2 listens on a unix socket file (visible from every namespace) and this relay,
 * started in the namespace, carries the daemon's HTTP to it.
 */
const relaySource = (socketPath: string) =>
  `const net = require('net');
net.createServer((c) => {
  const u = net.connect(${JSON.stringify(socketPath)});
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.pipe(u).pipe(c);
}).listen(${FAKE_EC2_PORT}, '127.0.0.1', () => console.log('ready'));`;

/** The AWS settings of the daemon's environment: dummy credentials, the fake as EC2 endpoint. */
export const AWS_ENV = [
  `AWS_ENDPOINT_URL_EC2=http://127.0.0.1:${FAKE_EC2_PORT}`,
  'AWS_ACCESS_KEY_ID=AKIDFAKE',
  'AWS_SECRET_ACCESS_KEY=fake',
  'AWS_EC2_METADATA_DISABLED=true',
];

/** Starts the fake EC2 and its relay into the server namespace (the lab kills the relay by PID); stop the fake in afterAll. */
export async function startFakeEc2InLab(dl: DaemonLab): Promise<FakeEc2> {
  const fake = new FakeEc2();
  const socketPath = await fake.start(join(dl.dir, 'fake-ec2.sock'));
  const relay = dl.lab.spawn(dl.lab.server, process.execPath, ['-e', relaySource(socketPath)]);
  await new Promise<void>((resolve, reject) => {
    relay.stdout?.once('data', () => resolve());
    relay.once('exit', (code) => reject(new Error(`the EC2 relay exited (${code}) before listening`)));
  });
  return fake;
}
