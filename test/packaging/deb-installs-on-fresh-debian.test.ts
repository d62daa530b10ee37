import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, mustRun, REPO, runCommand, VERSION, type Ran } from '../support/packaging.js';

/**
 * `npm run package`'s .deb installed with apt-get into a fresh Debian root made by debootstrap
 * (packaging/deb/fresh-root.sh, cached after the first run), then upgraded, removed and purged.
 * Nothing here starts the daemon: the root shares this machine's network namespace.
 * KNOCKGATE_DEB_SUITES picks the releases (default: Debian 12 and 13).
 */
const SUITES = (process.env.KNOCKGATE_DEB_SUITES ?? 'bookworm trixie').split(/\s+/).filter(Boolean);
const ARCH = (await mustRun('dpkg', ['--print-architecture'])).stdout.trim();
const DEB = `knockgate_${VERSION}_${ARCH}.deb`;
const NEWER_VERSION = `${VERSION}+1`;
const NEWER_DEB = `knockgate_${NEWER_VERSION}_${ARCH}.deb`;
/** What a production host must never get from this package. */
const NOT_ON_A_BASTION = /^(gcc|g\+\+|cpp|make|build-essential|python3|libpcap-dev|nodejs|npm|knockd|fwknop|nmap|hping3|redis|tcpdump|debootstrap)/;
const MINUTES = 60_000;

let work = '';
let unavailable: string | undefined = process.getuid?.() !== 0 ? 'not root' : undefined;

beforeAll(async () => {
  if (unavailable) return;
  if ((await runCommand('sh', ['-c', 'command -v debootstrap'])).code !== 0) {
    unavailable = 'debootstrap is not installed (scripts/setup.sh installs it)';
    return;
  }
  work = mkdtempSync('/tmp/kgt-deb-');
  // Uncompressed instead of the release's xz (75 s of compressing on this 2-core machine); dpkg reads both alike.
  await buildPackage('deb', work, { KNOCKGATE_DEB_COMPRESS: 'none' });
  // The next version: the same files, as a newer release would ship them.
  const tree = join(work, 'newer');
  await mustRun('dpkg-deb', ['-R', join(work, DEB), tree]);
  await mustRun('sed', ['-i', `s/^Version: .*/Version: ${NEWER_VERSION}/`, join(tree, 'DEBIAN/control')]);
  await mustRun('sed', ['-i', `s/"version": ".*"/"version": "${NEWER_VERSION}"/`, join(tree, 'usr/lib/knockgate/package.json')]);
  await mustRun('dpkg-deb', ['--root-owner-group', '-Znone', '-b', tree, join(work, NEWER_DEB)], { timeoutMs: 3 * MINUTES });
  rmSync(tree, { recursive: true });
}, 10 * MINUTES);

// Each root is some 20,000 files: removing them takes a while on a busy machine.
afterAll(() => {
  if (work) removeTree(work);
}, 5 * MINUTES);

/** Removes a test root, refusing if anything is still mounted below it (in-root.sh mounts privately). */
function removeTree(dir: string): void {
  const mounted = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1]?.startsWith(dir));
  if (mounted.length > 0) throw new Error(`still mounted under ${dir}: ${mounted.join('; ')}`);
  rmSync(dir, { recursive: true, force: true });
}

describe.each(SUITES)('the .deb on a fresh Debian %s root', (suite) => {
  let root = '';
  let reason: string | undefined;
  const inRoot = (...args: string[]): Promise<Ran> => runCommand('bash', ['packaging/deb/in-root.sh', root, ...args], { timeoutMs: 5 * MINUTES });
  const mustInRoot = async (...args: string[]): Promise<Ran> => {
    const ran = await inRoot(...args);
    if (ran.code !== 0) throw new Error(`in ${suite} root: ${args.join(' ')} exited ${ran.code}:\n${ran.stderr}\n${ran.stdout}`.trim());
    return ran;
  };
  const installed = async (): Promise<Set<string>> => {
    const rows = (await mustInRoot('dpkg-query', '-W', '-f', '${db:Status-Abbrev} ${Package}\n')).stdout.split('\n');
    return new Set(rows.map((row) => row.split(/\s+/)).filter(([status]) => status === 'ii').map(([, pkg]) => pkg!));
  };
  const skipUnlessReady = (ctx: { skip: (note?: string) => never }) => {
    const why = unavailable ?? reason;
    if (why) {
      console.warn(`SKIPPED (debootstrap cannot run): ${why}`);
      ctx.skip(`debootstrap cannot run: ${why}`);
    }
  };

  beforeAll(async () => {
    if (unavailable) return;
    root = join(work, suite);
    const made = await runCommand('bash', ['packaging/deb/fresh-root.sh', suite, root], { timeoutMs: 8 * MINUTES });
    // 3: no debootstrap, 4: it could not fetch or unpack the release (no mirror reachable).
    if (made.code === 3 || made.code === 4) reason = `packaging/deb/fresh-root.sh ${suite}: ${made.stderr.trim()}`;
    else if (made.code !== 0) throw new Error(`fresh-root.sh ${suite} exited ${made.code}: ${made.stderr}`);
    if (reason) return;
    await mustRun('cp', [join(work, DEB), join(work, NEWER_DEB), join(root, 'tmp')]);
    const update = await inRoot('apt-get', 'update', '-qq');
    if (update.code !== 0) reason = `apt-get update in the ${suite} root failed (no Debian mirror reachable?): ${update.stderr.trim()}`;
  }, 10 * MINUTES);

  afterAll(() => {
    if (root) removeTree(root);
  }, 5 * MINUTES);

  it('installs with apt-get, bringing libpcap and nftables and no compiler, Node.js or test peer', async (ctx) => {
    skipUnlessReady(ctx);
    const before = await installed();
    const started = Date.now();
    await mustInRoot('apt-get', 'install', '-y', '-q', `/tmp/${DEB}`);
    console.log(`${suite}: apt-get install of ${DEB} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const added = [...(await installed())].filter((p) => !before.has(p)).sort();
    expect(added).toContain('knockgate');
    expect(added).toContain('nftables');
    expect(added.some((p) => /^libpcap0\.8(t64)?$/.test(p)), added.join(' ')).toBe(true);
    expect(added.filter((p) => NOT_ON_A_BASTION.test(p))).toEqual([]);
  }, 5 * MINUTES);

  it('puts knockgate on the PATH: --version, check on the shipped example and man -w, with nothing on stderr', async (ctx) => {
    skipUnlessReady(ctx);
    expect(await inRoot('knockgate', '--version')).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    // As the unit's ExecStartPre runs it: as the daemon's user, who owns the state directory.
    const checkAsDaemon = (config: string) => inRoot('runuser', '-u', 'knockgate', '--', 'knockgate', 'check', '--config', config);
    // As shipped, the example's SPA keys are published: check refuses it, so the unit would not start.
    for (const config of ['/usr/share/doc/knockgate/examples/knockgate.toml', '/etc/knockgate/knockgate.toml']) {
      const check = await checkAsDaemon(config);
      expect(check.code).toBe(1);
      expect(check.stderr).toMatch(new RegExp(`^${config}:\\d+: spa_door\\.ops\\.key_base64: is a published example key`, 'm'));
    }
    // With keys from the package's own keygen, as the operator is told to do, and the helper
    // programs its command door runs in place, it is valid and the host has what it needs.
    await mustInRoot('sh', '-c', 'for p in vpn-allow vpn-deny; do printf "#!/bin/sh\\nexit 0\\n" > /usr/local/sbin/$p && chmod 0755 /usr/local/sbin/$p; done');
    // The interface it captures on is one this host has (the example names eth0), and /run/knockgate
    // is there, as systemd's RuntimeDirectory= makes it before ExecStartPre.
    const nic = readdirSync('/sys/class/net').includes('eth0') ? 'eth0' : readdirSync('/sys/class/net').find((n) => n !== 'lo');
    await mustInRoot('sed', '-i', `s|^interfaces = \\["eth0"\\]|interfaces = ["${nic}"]|`, '/etc/knockgate/knockgate.toml');
    await mustInRoot('install', '-d', '-o', 'knockgate', '-g', 'knockgate', '-m', '0750', '/run/knockgate');
    const keys = JSON.parse((await mustInRoot('knockgate', 'keygen', '--json')).stdout) as { key_base64: string; hmac_key_base64: string };
    await mustInRoot('sed', '-i', '-e', `s|^key_base64 = .*|key_base64 = "${keys.key_base64}"|`, '-e', `s|^hmac_key_base64 = .*|hmac_key_base64 = "${keys.hmac_key_base64}"|`, '/etc/knockgate/knockgate.toml');
    const check = await checkAsDaemon('/etc/knockgate/knockgate.toml');
    expect([check.code, check.stderr]).toEqual([0, '']);
    expect(check.stdout).toMatch(/^\/etc\/knockgate\/knockgate\.toml: valid knockgate config, 3 doors/);
    expect((await inRoot('man', '-w', 'knockgate')).stdout).toBe('/usr/share/man/man1/knockgate.1.gz\n');
    const page = await mustInRoot('sh', '-c', 'MANWIDTH=100 man knockgate');
    expect(page.stdout).toMatch(/knockgate serve \[options\]/);
    expect(page.stdout).toMatch(/knockgate guard check \[options\]/);
    // A client command, on the runtime the package carries.
    const keygen = await inRoot('knockgate', 'keygen');
    expect([keygen.code, keygen.stderr]).toEqual([0, '']);
    expect(keygen.stdout).toMatch(/KEY_BASE64/);
    expect((await mustInRoot('/usr/lib/knockgate/runtime/node', '--version')).stdout).toBe(`v${readFileSync(`${REPO}/.node-version`, 'utf8').trim()}\n`);
  });

  it('creates the knockgate system user and group and the state directory; installs the unit, the knockd.conf drop-in and completions', async (ctx) => {
    skipUnlessReady(ctx);
    const [user, , uid, gid, , home, shell] = (await mustInRoot('getent', 'passwd', 'knockgate')).stdout.trim().split(':');
    expect([user, home, shell]).toEqual(['knockgate', '/var/lib/knockgate', '/usr/sbin/nologin']);
    expect(Number(uid)).toBeLessThan(1000);
    expect((await mustInRoot('getent', 'group', 'knockgate')).stdout.split(':')[2]).toBe(gid);
    expect((await mustInRoot('stat', '-c', '%U:%G %a', '/var/lib/knockgate', '/etc/knockgate/knockgate.toml')).stdout).toBe('knockgate:knockgate 700\nroot:knockgate 640\n');
    expect(readFileSync(join(root, 'usr/lib/systemd/system/knockgate.service'), 'utf8')).toBe(readFileSync(`${REPO}/deploy/knockgate.service`, 'utf8'));
    expect(readFileSync(join(root, 'usr/share/doc/knockgate/examples/knockd-conf.conf'), 'utf8')).toBe(readFileSync(`${REPO}/deploy/knockgate-knockd-conf.conf`, 'utf8'));
    const completion = await mustInRoot('bash', '-c', 'source /usr/share/bash-completion/completions/knockgate; COMP_WORDS=(knockgate guard c); COMP_CWORD=2; _knockgate; echo "${COMPREPLY[*]}"');
    expect(completion.stdout).toBe('check\n');
    expect(readFileSync(join(root, 'usr/share/zsh/vendor-completions/_knockgate'), 'utf8')).toMatch(/^#compdef knockgate\n/);
  });

  it('an upgrade to a newer version keeps an edited config and the state', async (ctx) => {
    skipUnlessReady(ctx);
    await mustInRoot('sh', '-c', 'echo "# edited by the operator" >> /etc/knockgate/knockgate.toml && echo kept > /var/lib/knockgate/operator-state');
    await mustInRoot('apt-get', 'install', '-y', '-q', `/tmp/${NEWER_DEB}`);
    expect((await mustInRoot('knockgate', '--version')).stdout).toBe(`${NEWER_VERSION}\n`);
    expect(readFileSync(join(root, 'etc/knockgate/knockgate.toml'), 'utf8')).toMatch(/# edited by the operator\n$/);
    expect(readFileSync(join(root, 'var/lib/knockgate/operator-state'), 'utf8')).toBe('kept\n');
  }, 5 * MINUTES);

  it('remove keeps config and state; purge deletes both and leaves the system user', async (ctx) => {
    skipUnlessReady(ctx);
    await mustInRoot('apt-get', 'remove', '-y', '-q', 'knockgate');
    expect((await inRoot('sh', '-c', 'command -v knockgate')).code).not.toBe(0);
    expect((await mustInRoot('dpkg-query', '-W', '-f', '${db:Status-Abbrev}', 'knockgate')).stdout.trim()).toBe('rc');
    expect(readFileSync(join(root, 'etc/knockgate/knockgate.toml'), 'utf8')).toMatch(/# edited by the operator\n$/);
    expect(readFileSync(join(root, 'var/lib/knockgate/operator-state'), 'utf8')).toBe('kept\n');

    await mustInRoot('apt-get', 'purge', '-y', '-q', 'knockgate');
    expect((await inRoot('test', '-e', '/etc/knockgate')).code).toBe(1);
    expect((await inRoot('test', '-e', '/var/lib/knockgate')).code).toBe(1);
    expect((await inRoot('dpkg-query', '-W', 'knockgate')).code).not.toBe(0);
    expect((await inRoot('getent', 'passwd', 'knockgate')).code).toBe(0);
  }, 5 * MINUTES);
});
