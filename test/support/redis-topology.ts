import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type Lab, type LabHost } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';

/**
 * A real Redis for a fleet lab, in one of the forms `[fleet] redis_url` takes. Processes are
 * started by `start()` and killed by PID in `stop()` (SIGKILL: an outage, not a clean stop).
 */
export interface RedisTopology {
  /** The members' `[fleet] redis_url`. */
  url: string;
  /** What the members' daemons need in their environment to reach it (a private CA). */
  env: Record<string, string>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A Redis with no persistence: a test's data ends with its process. */
const EPHEMERAL = ['--save', '', '--appendonly', 'no', '--protected-mode', 'no'];

async function killAll(children: ChildProcess[]): Promise<void> {
  const live = children.splice(0).filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
  await Promise.all(
    live.map(async (c) => {
      const exited = new Promise((resolve) => c.once('exit', resolve));
      process.kill(c.pid!, 'SIGKILL');
      await exited;
    }),
  );
}

/** redis-cli in the Redis host's namespace until `ready(reply)`; bounded by `what`'s 10 s. */
async function until(lab: Lab, host: LabHost, args: string[], ready: (reply: string) => boolean, what: string): Promise<void> {
  await waitFor(async () => ready(await lab.exec(host, 'redis-cli', args).catch(() => '')) || undefined, { timeoutMs: 10_000, intervalMs: 100, what });
}

/** On a unix socket in `dir`, started in this process's namespace: namespaces share the file system. */
export function unixSocketRedis(dir: string): RedisTopology {
  const socket = join(dir, 'redis.sock');
  const children: ChildProcess[] = [];
  return {
    url: socket,
    env: {},
    async start() {
      await rm(socket, { force: true });
      children.push(spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--dir', dir, ...EPHEMERAL], { stdio: 'ignore' }));
      await waitFor(() => existsSync(socket), { timeoutMs: 5_000, what: 'redis-server to listen' });
    },
    stop: () => killAll(children),
  };
}

export const TCP_PORT = 6379;

/** `redis://` on `host`'s address, no TLS and no password. */
export function tcpRedis(lab: Lab, host: LabHost, dir: string): RedisTopology {
  const children: ChildProcess[] = [];
  return {
    url: `redis://${host.ip4}:${TCP_PORT}/0`,
    env: {},
    async start() {
      children.push(lab.spawn(host, 'redis-server', ['--port', String(TCP_PORT), '--bind', host.ip4, '--dir', dir, ...EPHEMERAL], { stdio: 'ignore' }));
      await until(lab, host, ['-h', host.ip4, '-p', String(TCP_PORT), 'ping'], (r) => r.includes('PONG'), 'redis-server to listen');
    },
    stop: () => killAll(children),
  };
}

export const TLS_PORT = 6380;

/**
 * `rediss://` on `host`: a CA and a server certificate for the host's address made with openssl
 * here, the server on TLS only. Members trust the CA through NODE_EXTRA_CA_CERTS, as an operator's
 * unit would (README, "Fleet").
 */
export async function tlsRedis(lab: Lab, host: LabHost, dir: string): Promise<RedisTopology> {
  const f = (name: string) => join(dir, name);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=knockgate test CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('redis.key'), '-out', f('redis.csr'), '-subj', '/CN=redis']);
  await writeFile(f('redis.ext'), `subjectAltName=IP:${host.ip4}\n`);
  await run('openssl', ['x509', '-req', '-in', f('redis.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('redis.pem'), '-days', '1', '-extfile', f('redis.ext')]);
  const children: ChildProcess[] = [];
  const tls = ['--tls-cert-file', f('redis.pem'), '--tls-key-file', f('redis.key'), '--tls-ca-cert-file', f('ca.pem')];
  return {
    url: `rediss://${host.ip4}:${TLS_PORT}`,
    env: { NODE_EXTRA_CA_CERTS: f('ca.pem') },
    async start() {
      children.push(lab.spawn(host, 'redis-server', ['--port', '0', '--tls-port', String(TLS_PORT), '--bind', host.ip4, ...tls, '--tls-auth-clients', 'no', '--dir', dir, ...EPHEMERAL], { stdio: 'ignore' }));
      await until(lab, host, ['--tls', '--cacert', f('ca.pem'), '-h', host.ip4, '-p', String(TLS_PORT), 'ping'], (r) => r.includes('PONG'), 'redis-server to listen on TLS');
    },
    stop: () => killAll(children),
  };
}

export const SENTINEL_PORT = 26_379;
const SENTINEL_PORTS = { master: 6379, replica: 6380 } as const;

export interface SentinelTopology extends RedisTopology {
  /** SIGKILLs the master; resolves once the Sentinel has promoted the replica and names it. */
  killMaster(): Promise<void>;
  /** redis-cli against the master the Sentinel names now. */
  master(...args: string[]): Promise<string>;
}

/**
 * A master, its replica and one Sentinel on `host` that monitors them as "lab" (a quorum of one,
 * the master down after 1 s without an answer); members find the master through the Sentinel.
 */
export function sentinelRedis(lab: Lab, host: LabHost, dir: string): SentinelTopology {
  const children: ChildProcess[] = [];
  const conf = join(dir, 'sentinel.conf');
  const cli = (port: number, ...args: string[]) => ['-h', host.ip4, '-p', String(port), ...args];
  const masterIs = (port: number) => until(lab, host, cli(SENTINEL_PORT, 'sentinel', 'get-master-addr-by-name', 'lab'), (r) => r.includes(`${host.ip4}\n${port}`), `the Sentinel to name ${port} the master`);
  return {
    url: `redis-sentinel://${host.ip4}:${SENTINEL_PORT}/lab`,
    env: {},
    async start() {
      for (const [role, port] of Object.entries(SENTINEL_PORTS)) {
        const replicaOf = role === 'replica' ? ['--replicaof', host.ip4, String(SENTINEL_PORTS.master)] : [];
        children.push(lab.spawn(host, 'redis-server', ['--port', String(port), '--bind', host.ip4, ...replicaOf, '--dir', dir, '--dbfilename', `${role}.rdb`, ...EPHEMERAL], { stdio: 'ignore' }));
        await until(lab, host, cli(port, 'ping'), (r) => r.includes('PONG'), `the ${role} to listen`);
      }
      // Sentinel rewrites its config file as it learns: a fresh one each start.
      const monitor = [`monitor lab ${host.ip4} ${SENTINEL_PORTS.master} 1`, 'down-after-milliseconds lab 1000', 'failover-timeout lab 5000'].map((l) => `sentinel ${l}\n`).join('');
      await writeFile(conf, `port ${SENTINEL_PORT}\nbind ${host.ip4}\nprotected-mode no\ndir ${dir}\n${monitor}`);
      children.push(lab.spawn(host, 'redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
      await masterIs(SENTINEL_PORTS.master);
      await until(lab, host, cli(SENTINEL_PORT, 'sentinel', 'replicas', 'lab'), (r) => r.includes(String(SENTINEL_PORTS.replica)), 'the Sentinel to know the replica');
    },
    async killMaster() {
      await killAll(children.splice(0, 1));
      await masterIs(SENTINEL_PORTS.replica);
    },
    async master(...args) {
      const [, port] = (await lab.exec(host, 'redis-cli', cli(SENTINEL_PORT, 'sentinel', 'get-master-addr-by-name', 'lab'))).trim().split('\n');
      return lab.exec(host, 'redis-cli', cli(Number(port), ...args));
    },
    stop: () => killAll(children),
  };
}

export const CLUSTER_PORTS = [7000, 7001, 7002] as const;

/** A Redis Cluster of three masters on `host` (no replicas), its slots assigned by `redis-cli --cluster create`. */
export function clusterRedis(lab: Lab, host: LabHost, dir: string): RedisTopology {
  const children: ChildProcess[] = [];
  const nodes = CLUSTER_PORTS.map((p) => `${host.ip4}:${p}`);
  return {
    url: `redis-cluster://${nodes.join(',')}`,
    env: {},
    async start() {
      for (const port of CLUSTER_PORTS) {
        const nodesFile = join(dir, `nodes-${port}.conf`);
        await rm(nodesFile, { force: true });
        children.push(lab.spawn(host, 'redis-server', ['--port', String(port), '--bind', host.ip4, '--cluster-enabled', 'yes', '--cluster-config-file', nodesFile, '--dir', dir, ...EPHEMERAL], { stdio: 'ignore' }));
        await until(lab, host, ['-h', host.ip4, '-p', String(port), 'ping'], (r) => r.includes('PONG'), `cluster node ${port} to listen`);
      }
      await lab.exec(host, 'redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 20_000 });
      for (const port of CLUSTER_PORTS) {
        await until(lab, host, ['-h', host.ip4, '-p', String(port), 'cluster', 'info'], (r) => r.includes('cluster_state:ok'), `cluster node ${port} to see the cluster ok`);
      }
    },
    stop: () => killAll(children),
  };
}
