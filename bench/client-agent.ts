import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { knock } from '../src/client/knock-client.js';
import type { PortSpec } from '../src/core/packet.js';

/**
 * The benchmark's client, run inside the client namespace (`ip netns exec … node client-agent.js`)
 * and driven over stdin/stdout, one JSON request and one JSON answer per line. Timing happens here,
 * next to the packets, so no process start or pipe hop is inside a measured interval.
 */

export type AgentRequest =
  | { id: number; op: 'knock-open'; src: string; target: string; knocks: PortSpec[]; port: number; timeoutMs: number; probeIntervalMs?: number }
  | { id: number; op: 'spa-open'; src: string; target: string; spaPort: number; payload: string; port: number; timeoutMs: number; probeIntervalMs?: number }
  | { id: number; op: 'connect-times'; src: string; target: string; ports: number[]; rounds: number };

export type AgentAnswer =
  | { id: number; ok: true; openMs?: number; times?: number[][] }
  | { id: number; ok: false; error: string };

/**
 * A new connect attempt this often while waiting for the door: the resolution of an open time.
 * Below 1 ms the wait spins on setImmediate (setTimeout's floor is 1 ms) and holds a core; a flood
 * round asks for a coarser interval so the client does not take CPU from the daemon under test.
 */
const DEFAULT_PROBE_INTERVAL_MS = 0.1;
/** A probe whose SYN was dropped is abandoned after this (its retransmission is a second away). */
const PROBE_LIFETIME_MS = 50;
/** Hard bound on connect attempts in one wait, whatever the timeout. */
const MAX_PROBES = 30_000;
/** One connect in connect-times may take this long before the run fails. */
const CONNECT_TIMEOUT_MS = 2_000;

/**
 * Connects to target:port from src again and again until one succeeds or `timeoutMs` passes after
 * `t0`; resolves with ms from t0 to the first completed handshake.
 */
function firstConnect(src: string, target: string, port: number, t0: number, timeoutMs: number, intervalMs = DEFAULT_PROBE_INTERVAL_MS): Promise<number | undefined> {
  return new Promise((resolve) => {
    const live: Array<{ socket: Socket; at: number }> = [];
    let done = false;
    let probes = 0;
    let next = performance.now();
    const finish = (openMs: number | undefined): void => {
      if (done) return;
      done = true;
      for (const p of live.splice(0)) p.socket.destroy();
      resolve(openMs);
    };
    const tick = (): void => {
      if (done) return;
      const now = performance.now();
      if (now - t0 > timeoutMs || probes >= MAX_PROBES) return finish(undefined);
      while (live.length > 0 && now - live[0]!.at > PROBE_LIFETIME_MS) live.shift()!.socket.destroy();
      if (now >= next) {
        next = now + intervalMs;
        probes++;
        const socket = connect({ host: target, port, localAddress: src });
        socket.once('connect', () => finish(performance.now() - t0));
        socket.on('error', () => socket.destroy());
        live.push({ socket, at: now });
      }
      if (intervalMs < 1) setImmediate(tick);
      else setTimeout(tick, intervalMs);
    };
    tick();
  });
}

function sendDatagram(src: string, target: string, port: number, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind({ address: src, port: 0 }, () => {
      const sentAt = performance.now();
      socket.send(Buffer.from(payload), port, target, (err) => {
        socket.close();
        if (err) reject(err);
        else resolve(sentAt);
      });
    });
  });
}

function connectOnce(src: string, target: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host: target, port, localAddress: src });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${target}:${port} from ${src} timed out`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      socket.destroy();
      resolve(ms);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function answer(req: AgentRequest): Promise<AgentAnswer> {
  switch (req.op) {
    case 'knock-open': {
      let lastHitAt = 0;
      let hits = 0;
      await knock(req.target, req.knocks, {
        localAddress: req.src,
        onHit: () => {
          hits++;
          if (hits === req.knocks.length) lastHitAt = performance.now();
        },
      });
      const openMs = await firstConnect(req.src, req.target, req.port, lastHitAt, req.timeoutMs, req.probeIntervalMs);
      return openMs === undefined ? { id: req.id, ok: false, error: 'not open within the timeout' } : { id: req.id, ok: true, openMs };
    }
    case 'spa-open': {
      const sentAt = await sendDatagram(req.src, req.target, req.spaPort, req.payload);
      const openMs = await firstConnect(req.src, req.target, req.port, sentAt, req.timeoutMs, req.probeIntervalMs);
      return openMs === undefined ? { id: req.id, ok: false, error: 'not open within the timeout' } : { id: req.id, ok: true, openMs };
    }
    case 'connect-times': {
      const times = req.ports.map((): number[] => []);
      for (let r = 0; r < req.rounds; r++) {
        for (const [i, port] of req.ports.entries()) times[i]!.push(await connectOnce(req.src, req.target, port));
      }
      return { id: req.id, ok: true, times };
    }
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const req = JSON.parse(line) as AgentRequest;
  answer(req).then(
    (a) => process.stdout.write(`${JSON.stringify(a)}\n`),
    (e: unknown) => process.stdout.write(`${JSON.stringify({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) })}\n`),
  );
});
lines.on('close', () => process.exit(0));
