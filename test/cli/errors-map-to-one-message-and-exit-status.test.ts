import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorExit, EXIT_CONFIG, EXIT_USAGE } from '../../src/cli/errors.js';
import { KnockArgumentError } from '../../src/client/knock-args.js';
import { ConfigError } from '../../src/config/config-error.js';
import { SpaError } from '../../src/core/spa/index.js';
import { GateError } from '../../src/gates/gate.js';
import { SensorError } from '../../src/sensors/pcap.js';
import { StoreError } from '../../src/store/grant-store.js';

const BIN = fileURLToPath(new URL('../../bin/knockgate.js', import.meta.url));

async function knockgate(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 20_000 });
    return { code: 0, stderr };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: err.code ?? -1, stderr: err.stderr ?? '' };
  }
}

describe('errors that reach the CLI', () => {
  let dir: string;
  let bad: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kg-errors-'));
    bad = join(dir, 'bad.toml');
    await writeFile(bad, '[door.ssh]\nsequence = ["7000"]\nopen = ["22/tcp"]\nopen_for = "90x"\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serve on a bad file prints FILE:LINE: FIELD and exits 78; check answers the same file with 1', async () => {
    const serve = await knockgate(['serve', '--config', bad]);
    expect(serve.code).toBe(EXIT_CONFIG);
    expect(serve.stderr).toMatch(new RegExp(`^${bad}:4: door\\.ssh\\.open_for: "90x" is not a duration; expected e\\.g\\. [^\\n]+\\n$`));
    const check = await knockgate(['check', '--config', bad]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`${bad}:4: door.ssh.open_for:`);
  });

  it('status without a daemon says so and exits 1', async () => {
    const status = await knockgate(['status', '--socket', join(dir, 'none.sock')]);
    expect(status).toEqual({ code: 1, stderr: `knockgate: knockgate is not running (no control socket at ${join(dir, 'none.sock')}); start it with \`knockgate serve\`\n` });
  });

  it('maps each kind once: code, message, next step, exit status', () => {
    expect(errorExit(new ConfigError('k.toml', [{ line: 3, field: 'door.x.open', message: 'is required' }]))).toEqual({ message: 'k.toml:3: door.x.open: is required', exitCode: EXIT_CONFIG });
    expect(errorExit(new KnockArgumentError('7000:xyz', 'bad protocol "xyz"'))).toEqual({ message: 'error: bad protocol "xyz"', exitCode: EXIT_USAGE });
    expect(errorExit(new StoreError('cannot write grant journal /s/j.json: EROFS', '/s/j.json'))).toEqual({
      message: 'knockgate: cannot write grant journal /s/j.json: EROFS\n  check that /s/j.json and its directory are writable by knockgate and the disk has room',
      exitCode: 1,
    });
    // The hint is already in the message: not printed twice.
    expect(errorExit(new SensorError('eth9', 'no such device', 'name an interface that is up'))).toEqual({ message: 'knockgate: cannot capture on eth9: no such device (name an interface that is up)', exitCode: 1 });
    expect(errorExit(new Error('boom'))).toEqual({ message: 'knockgate: boom', exitCode: 1 });
    expect([new GateError('x', 'nftables').code, new SpaError('bad-hmac', 'x').code, new ConfigError('f', [{ message: 'm' }]).area]).toEqual(['gate.failed', 'spa.bad-hmac', 'config']);
  });
});
