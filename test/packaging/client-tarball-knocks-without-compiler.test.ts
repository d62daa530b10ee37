import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';
import { buildPackage, mustRun, runCommand, VERSION } from '../support/packaging.js';

/**
 * The laptop client: `npm run package:client`'s tarball installed with `npm install -g` into an
 * empty prefix, with only node and npm on PATH (no compiler, no libpcap headers), knocks a lab
 * daemon open. The client commands are those README names; `connect` joins them when it exists.
 */
const CLIENT_COMMANDS = ['knock', 'spa', 'connect', 'sequence', 'keygen'];
const NPM_CLI = realpathSync('/usr/bin/npm');

let dir = '';
let knockgate = '';
/** Only node and npm: what an operator's laptop needs. */
let clientEnv: NodeJS.ProcessEnv = {};

/** Every file below `root` whose name ends in `.node` (a native addon), or a directory named like the capture addon. */
function nativeParts(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith('.node') || p.endsWith('knockgate-capture'));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'knockgate-client-'));
  await buildPackage('client', join(dir, 'release'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(NPM_CLI, join(bin, 'npm'));
  // A laptop has a shell (npm runs ssh2's install script through it; its optional native crypto then fails to build, as it may).
  symlinkSync('/bin/sh', join(bin, 'sh'));
  clientEnv = { ...process.env, PATH: bin };
  // What this machine's set-up points npm at (the runtime's headers) is no part of a laptop.
  for (const key of Object.keys(clientEnv)) if (key.toLowerCase().startsWith('npm_')) delete clientEnv[key];
  const prefix = join(dir, 'prefix');
  await mustRun('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(dir, 'release', `knockgate-${VERSION}.tgz`)], { env: clientEnv, timeoutMs: 180_000 });
  knockgate = join(prefix, 'bin', 'knockgate');
}, 360_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the npm package on a machine with neither a compiler nor libpcap', () => {
  it('installed with only node and npm on PATH, and holds no native code', async () => {
    const compilers = await runCommand('/bin/sh', ['-c', 'command -v cc gcc g++ clang make python3 node-gyp'], { env: clientEnv });
    expect(compilers.stdout).toBe('');
    expect(nativeParts(join(dir, 'prefix'))).toEqual([]);
    expect(await runCommand(knockgate, ['--version'], { env: clientEnv })).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('runs every client command it has with nothing on stderr (no missing module, no runtime warning)', async () => {
    const help = await runCommand(knockgate, ['--help'], { env: clientEnv });
    const present = CLIENT_COMMANDS.filter((cmd) => new RegExp(`^  ${cmd}\\b`, 'm').test(help.stdout));
    expect(present).toEqual(expect.arrayContaining(['knock', 'spa', 'sequence', 'keygen']));
    for (const cmd of present) expect(await runCommand(knockgate, [cmd, '--help'], { env: clientEnv }), cmd).toMatchObject({ code: 0, stderr: '' });
    const keygen = await runCommand(knockgate, ['keygen', '--door-secret'], { env: clientEnv });
    expect([keygen.code, keygen.stderr]).toEqual([0, '']);
    const secret = /secret = "([^"]+)"/.exec(keygen.stdout)?.[1];
    expect(secret, keygen.stdout).toBeDefined();
    const sequence = await runCommand(knockgate, ['sequence', '--door-secret', secret!], { env: clientEnv });
    expect([sequence.code, sequence.stderr]).toEqual([0, '']);
    expect(sequence.stdout).toMatch(/^\d+( \d+){3}\n$/);
  });
});

describe.skipIf(process.getuid?.() !== 0)('the npm client against a lab daemon', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab();
    await dl.serve(labConfig(dl.dir, labDoor({ seq_timeout: '"5s"', open_for: '"20s"' })));
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('knocks the door open from the client namespace', async () => {
    const { lab } = dl;
    expect((await dl.connect(lab.client)).connected).toBe(false);
    await lab.exec(lab.client, knockgate, ['knock', lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    expect((await dl.connect(lab.client)).connected).toBe(true);
  });

  it('says what is missing when asked to capture (serve on a knock door), instead of a module error', async () => {
    const { lab } = dl;
    const config = join(dl.dir, 'client-serve.toml');
    writeFileSync(config, labConfig(join(dl.dir, 'client-state'), labDoor()));
    // Bounded: the point is the message (the daemon's start-up after a failed sensor is not this test's).
    const served = await lab.exec(lab.server, '/bin/sh', ['-c', `timeout 10 "$0" serve --config "$1" 2>&1; echo "exit $?"`, knockgate, config], { timeoutMs: 20_000 });
    expect(served).toMatch(/libpcap addon \(knockgate-capture\)/);
    expect(served).toMatch(/Debian package/);
    expect(served).not.toMatch(/exit 0\n$/);
  });
});
