#!/usr/bin/env node
// How long from a rogue's answer on the wire to the guard's finding, beside how long from a
// co-binding socket's appearance to its finding. A throwaway lab: the guard's namespace and a
// peer running a real dnsmasq. Each round starts the daemon's GuardWatch (poll_interval 1 s):
// its first DHCPDISCOVER draws the rogue's OFFER, whose capture time (libpcap's timestamp) is
// taken beside the watch; the finding is the watch's log line. Then, at a random moment between
// two polls, two python3 processes co-bind a port, and that finding waits for the next poll. Medians and their ratio. Needs root and
// `npm run build`.
//   node bench/guard-rogue-answer.mjs [ROUNDS]
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url).href;
const ROUNDS = Number(process.argv[2] === '--inside' ? process.argv[3] : (process.argv[2] ?? 10));
const POLL_MS = 1_000;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * 100) / 100;
};

if (process.argv[2] === '--inside') {
  const { GuardWatch } = await import(`${dist}guard/guard-watch.js`);
  const { LibpcapCapture } = await import(`${dist}sensors/libpcap-capture.js`);
  const findings = [];
  const logger = {
    info() {},
    error(fields, msg) {
      process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`);
    },
    warn(fields) {
      if (fields.outcome === 'guard-finding') findings.push({ kind: fields.guard, at: Date.now() });
    },
  };
  const base = { pollIntervalMs: POLL_MS, reportUnexpected: false, expectations: [], arp: { gateway: false, neighbours: [], interfaces: [] }, allNetns: false };
  const waitFor = async (test, what) => {
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 2))) {
      const v = test();
      if (v) return v;
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const dhcp = [];
  const coBound = [];
  for (let round = 0; round < ROUNDS; round++) {
    // The rogue's answer to the watch's start-up probe, timed on the wire.
    findings.length = 0;
    let offerAt;
    const capture = new LibpcapCapture({ iface: 'eth0', filter: 'udp src port 67', snaplen: 512, bufferBytes: 1 << 20, batchPackets: 16, onFrame: (_f, ms) => (offerAt ??= ms), onError: () => {} });
    const watch = new GuardWatch({ settings: { ...base, dhcp: { servers: [], interfaces: ['eth0'], probeIntervalMs: 3_600_000, probeWaitMs: 2_000 } }, logger, captureInterfaces: ['eth0'] });
    await watch.start();
    const found = await waitFor(() => findings.find((f) => f.kind === 'rogue-dhcp'), 'rogue-dhcp');
    dhcp.push(found.at - offerAt);
    await watch.stop();
    capture.close();

    // A co-binding pair appears between polls: found at the next one.
    findings.length = 0;
    const ports = new GuardWatch({ settings: base, logger, captureInterfaces: ['eth0'] });
    await ports.start();
    const port = 30_000 + round;
    await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
    // Two processes (one process's own sockets are never co-bound), the second bound last.
    const listener = () => spawn('/usr/bin/python3', ['-c', `import socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); s.bind(('0.0.0.0', ${port})); s.listen()\nprint('ready', flush=True)\ntime.sleep(60)`]);
    const pair = [];
    let ready = 0;
    for (let i = 0; i < 2; i++) {
      const p = listener();
      pair.push(p);
      ready = await new Promise((resolve) => p.stdout.once('data', () => resolve(Date.now())));
    }
    const bound = await waitFor(() => findings.find((f) => f.kind === 'co-bound'), 'co-bound');
    coBound.push(bound.at - ready);
    for (const p of pair) p.kill('SIGKILL');
    await ports.stop();
  }
  console.log(
    JSON.stringify({
      rounds: ROUNDS,
      poll_interval_ms: POLL_MS,
      rogue_answer_to_finding_ms: median(dhcp),
      rogue_answer_to_finding_max_ms: Math.round(Math.max(...dhcp) * 100) / 100,
      co_bound_to_finding_ms: median(coBound),
      ratio_rogue_vs_co_bound: Math.round((median(dhcp) / median(coBound)) * 1000) / 1000,
    }),
  );
  process.exit(0);
}

const { createLab } = await import(`${dist}lab/netns.js`);
const lab = await createLab({ prefix: 'kgt' });
try {
  const rogue = lab.spawn(lab.client, '/usr/sbin/dnsmasq', ['--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-leasefile=/dev/null', '--pid-file=', '--dhcp-range=10.200.0.100,10.200.0.150,255.255.255.0,1h']);
  await new Promise((r) => setTimeout(r, 500));
  if (rogue.exitCode !== null) throw new Error('dnsmasq did not start');
  const out = execFileSync('ip', ['netns', 'exec', lab.server.ns, process.execPath, fileURLToPath(import.meta.url), '--inside', String(ROUNDS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(out.trim());
} finally {
  await lab.destroy();
}
