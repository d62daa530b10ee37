import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { CAPTURE_BATCH_PACKETS, CAPTURE_SNAPLEN_BYTES } from '../src/sensors/pcap.js';
import { LibpcapCapture } from '../src/sensors/libpcap-capture.js';
import type { HmacScreen } from '../src/core/spa/index.js';

/**
 * `node capture-drain.js IFACE PORT THREADS BUFFER_BYTES`: the capture addon with its SPA screen
 * on UDP PORT, read by THREADS reader threads, as the daemon reads its SPA ring. It prints
 * `ready`; the bench then stops this process (SIGSTOP), fills the ring with bad-HMAC datagrams,
 * and continues it (SIGCONT). It prints, as one JSON line, how many it examined (refused: samples
 * and counts) and in how many ms from SIGCONT to the last count, once none came for IDLE_MS.
 */

const IDLE_MS = 500;
/** fwknop's packets carry "Salted__" base64-encoded without it; the screen checks it is not put back. */
const SPA_PREFIX = Buffer.from('U2FsdGVkX1');

const [iface, port, threads, bufferBytes] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const addon = require('knockgate-capture') as typeof import('knockgate-capture');
// Any key: no bench packet was made with it, so each costs the screen one HMAC, as with one door.
const screen = new addon.HmacScreen([{ digest: 'sha256', key: randomBytes(64), macChars: 43 }], SPA_PREFIX);

let examined = 0;
let continuedAt: bigint | undefined;
let lastAt: bigint | undefined;
let idle: NodeJS.Timeout | undefined;
const counted = (n: number): void => {
  examined += n;
  lastAt = process.hrtime.bigint();
  if (continuedAt === undefined) return;
  clearTimeout(idle);
  idle = setTimeout(finish, IDLE_MS);
};
const capture = new LibpcapCapture({
  iface: iface!,
  filter: `udp dst port ${port}`,
  snaplen: CAPTURE_SNAPLEN_BYTES,
  bufferBytes: Number(bufferBytes),
  batchPackets: CAPTURE_BATCH_PACKETS,
  threads: Number(threads),
  onFrame: (_frame, _time, _truncated, badHmac) => badHmac && counted(1),
  onRefused: counted,
  onError: (err) => {
    process.stderr.write(`capture failed: ${err.message}\n`);
    process.exit(1);
  },
});
capture.screenSpa({ port: Number(port), screen: screen as unknown as HmacScreen, doors: [{ minLength: 0, maxLength: 1_500, expiresAt: -1 }] });

function finish(): void {
  const counters = capture.counters();
  capture.close();
  const ms = Number(lastAt! - continuedAt!) / 1e6;
  process.stdout.write(`${JSON.stringify({ examined, ms, received: counters.received, dropped: counters.dropped })}\n`);
}

process.on('SIGCONT', () => {
  continuedAt = process.hrtime.bigint();
  idle = setTimeout(finish, IDLE_MS);
});
process.stdout.write('ready\n');
