/**
 * A local stand-in for a Lambda Function URL: each HTTP request on 127.0.0.1 becomes the payload
 * 2.0 event AWS would deliver (rawPath, headers in lower case, base64 body, requestContext.http
 * with the peer address as sourceIp), and the handler's result becomes the HTTP response.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { run } from '../../src/lab/netns.js';

export interface HttpResult {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}

export function functionUrlEvent(opts: { method: string; path: string; sourceIp: string; body?: string | Uint8Array; headers?: Record<string, string> }): Record<string, unknown> {
  const [rawPath = '/', rawQueryString = ''] = opts.path.split('?');
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws', 'x-forwarded-proto': 'https', ...opts.headers },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghijklmnopqrstuvwxyz012345',
      domainName: 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'abcdefghijklmnopqrstuvwxyz012345',
      http: { method: opts.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: opts.sourceIp, userAgent: opts.headers?.['user-agent'] ?? '' },
      requestId: `req-${now}`,
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(opts.body !== undefined ? { body: Buffer.from(opts.body).toString('base64'), isBase64Encoded: true } : { isBase64Encoded: false }),
  };
}

export interface FunctionUrl {
  port: number;
  /**
   * The result of the next request handled. fwknop's HTTP mode sends its request and exits
   * without reading the answer, so a test waits here rather than for the client.
   */
  nextResult(): Promise<HttpResult>;
  close(): Promise<void>;
}

/** A certificate and its key (PEM), to serve HTTPS as a real Function URL does. */
export interface Tls {
  cert: string;
  key: string;
}

/** Loopback only, IPv4 or IPv6: the caller's address family is the one the receiver grants. */
export type LoopbackHost = '127.0.0.1' | '::1';

/** `https://127.0.0.1:PORT/` or `https://[::1]:PORT/`. */
export function loopbackUrl(host: LoopbackHost, port: number, scheme = 'https'): string {
  return `${scheme}://${host === '::1' ? '[::1]' : host}:${port}/`;
}

export async function startFunctionUrl(handle: (event: unknown) => Promise<HttpResult>, tls?: Tls, host: LoopbackHost = '127.0.0.1'): Promise<FunctionUrl> {
  const done: HttpResult[] = [];
  const waiting: Array<(r: HttpResult) => void> = [];
  const settle = (result: HttpResult) => {
    const waiter = waiting.shift();
    if (waiter) waiter(result);
    else done.push(result);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(',') : (v ?? '')]));
      // Bytes as they came: AWS hands a body to the function in base64, binary or not.
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      handle(functionUrlEvent({ method: req.method ?? 'GET', path: req.url ?? '/', sourceIp, headers, ...(body !== undefined ? { body } : {}) })).then(
        (result) => {
          settle(result);
          res.writeHead(result.statusCode, result.headers ?? {});
          res.end(result.body ?? '');
        },
        () => {
          settle({ statusCode: 502 });
          res.writeHead(502);
          res.end();
        },
      );
    });
  };
  const server: Server = tls ? createHttpsServer(tls, onRequest) : createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    nextResult: () => {
      const ready = done.shift();
      return ready ? Promise.resolve(ready) : new Promise<HttpResult>((resolve) => waiting.push(resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A self-signed certificate for 127.0.0.1 and ::1, made by openssl in `dir` (cert.pem, key.pem). */
export async function selfSignedTls(dir: string): Promise<Tls & { certFile: string }> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=knockgate test receiver', '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1', '-keyout', keyFile, '-out', certFile]);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile };
}
