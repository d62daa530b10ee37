/**
 * The Lambda handler served over HTTPS on 127.0.0.1 with a certificate the test makes, against
 * the fake EC2 and dynalite: the receiver as `knockgate spa --url` and `connect --url` reach it.
 * The receiver's JSON log lines (the handler's logger writes to this process's stdout) are kept,
 * and the group's rules are read back right after each request is handled.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { handler } from '../../src/aws/lambda-handler.js';
import type { PortSpec } from '../../src/core/packet.js';
import { formatCloseCommand } from '../../src/core/spa-close.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { loopbackUrl, startFunctionUrl, type FunctionUrl, type LoopbackHost } from './function-url-adapter.js';
import { startLambdaFakes, type LambdaFakes } from './lambda-fakes.js';

const execFileAsync = promisify(execFile);

export interface HttpsReceiverLab {
  fakes: LambdaFakes;
  url: FunctionUrl;
  /** `https://127.0.0.1:PORT/`, or `https://[::1]:PORT/` when served on ::1 */
  receiver: string;
  dir: string;
  /** The self-signed certificate (PEM), which the CLI trusts through NODE_EXTRA_CA_CERTS. */
  cert: string;
  /** What the CLI runs with: the test's certificate trusted, HOME in the lab's directory. */
  cliEnv: NodeJS.ProcessEnv;
  /** The receiver's log lines so far, parsed. */
  log: Record<string, unknown>[];
  /** The group's ingress CIDRs read right after each request the receiver handled, in order. */
  rulesAfter: string[][];
  /** Run after each request is handled, before its answer goes (the test's own change to the group, say). */
  afterRequest?: () => void;
  stop(): Promise<void>;
}

/** Starts the lab; `config` is the receiver's KNOCKGATE_CONFIG; `host` where it listens (127.0.0.1 unless given). Call stop() in afterAll, even after a failure. */
export async function startHttpsReceiverLab(opts: { config: string; replayTable: string; sg: string; host?: LoopbackHost }): Promise<HttpsReceiverLab> {
  const savedEnv = { ...process.env };
  const dir = mkdtempSync(join(tmpdir(), 'kgt-https-receiver-'));
  const log: Record<string, unknown>[] = [];
  const rulesAfter: string[][] = [];
  const write = process.stdout.write.bind(process.stdout);
  // The handler's pino logger writes JSON lines to stdout: keep them, and still show them.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    for (const line of String(chunk).split('\n')) {
      if (line.startsWith('{')) {
        try {
          log.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // Not a log line.
        }
      }
    }
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  let fakes: LambdaFakes | undefined;
  let url: FunctionUrl | undefined;
  // Filled in below once its parts run; the handler reads afterRequest from it.
  const lab = { log, rulesAfter, stop: () => stop() } as HttpsReceiverLab;
  const stop = async () => {
    process.stdout.write = write;
    await url?.close();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    await fakes?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await execFileAsync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=knockgate test receiver', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    fakes = await startLambdaFakes(opts.replayTable);
    const ec2 = fakes.ec2;
    Object.assign(process.env, fakes.env, { KNOCKGATE_CONFIG: opts.config });
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    url = await startFunctionUrl(
      async (event) => {
        const result = await handler(event);
        rulesAfter.push(ec2.ingress(opts.sg).map((r) => r.cidrIpv4 ?? r.cidrIpv6 ?? '?'));
        lab.afterRequest?.();
        return result;
      },
      { cert, key: readFileSync(join(dir, 'key.pem'), 'utf8') },
      opts.host,
    );
    Object.assign(lab, { fakes, url, receiver: loopbackUrl(opts.host ?? '127.0.0.1', url.port), dir, cert, cliEnv: { ...savedEnv, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'), HOME: dir } });
    return lab;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A close request for `address`'s grant to `ports`, made with the door's keys as knockgate connect makes it. */
export function closePacket(codec: SpaCodec, address: string, ports: PortSpec[]): string {
  return codec.encode({ username: 'alice', request: { kind: 'command', allowIp: '0.0.0.0', command: formatCloseCommand({ address, ports }) } }, { now: Date.now() });
}

/** POSTs a packet (fwknop's text or an SSH-key packet's bytes) to the lab's receiver from `localAddress` (another loopback address is another sender). */
export function postPacket(lab: Pick<HttpsReceiverLab, 'receiver' | 'cert'>, packet: string | Uint8Array, localAddress = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(lab.receiver, { method: 'POST', ca: lab.cert, localAddress, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.once('error', reject);
    req.end(packet);
  });
}
