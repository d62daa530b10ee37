import { chmodSync, copyFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, PYTHON, startListener, startPython } from '../support/guard-lab.js';
import { LISTENER_PY } from '../fixtures/guard-python.js';
import { createHijackLab, type HijackLab } from './hijack-lab.js';

/**
 * An unprivileged user makes a user and mount namespace of its own, bind-mounts another binary
 * over the service's path and runs it: /proc/<pid>/exe shows the expected path, so a path check passes. The guard
 * compares the file itself (device and inode through /proc/<pid>/exe) with the expected path's,
 * and reports it `preempted`; the real binary at that path still matches.
 */

const PORT = 2231;
const REAL = realpathSync(PYTHON);
let h: HijackLab;

beforeAll(async () => {
  h = await createHijackLab();
  const copy = join(h.dir, 'python-evil');
  copyFileSync(REAL, copy);
  chmodSync(h.dir, 0o755);
  chmodSync(copy, 0o755);
  // The real one holds the port on IPv4; the impostor, in its own mount namespace, on IPv6.
  await startListener(h.lab.server, { name: 'svc', port: PORT });
  const mountOver = ['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', 'mount --bind "$0" "$1" && exec "$@"', copy];
  await startPython(h.lab.server, 'impostor', LISTENER_PY, ['impostor', 'tcp', '6', '::', String(PORT), '0', '1'], { uid: NOBODY, wrapper: mountOver, python: REAL });
});

afterAll(() => h?.destroy());

describe('an executable bind-mounted over the expected path', () => {
  it('shows the expected path, but is another file, and is preempted', async () => {
    const { findings } = await h.check(`[guard]\n\n[guard.expect.svc]\nport = "${PORT}/tcp"\nexe = "${REAL}"\n`);
    expect(findings.map((f) => f.kind)).toEqual(['preempted']);
    const [f] = findings;
    expect(f!.sockets).toMatchObject([{ address: '::', uid: NOBODY, owners: [{ exe: REAL }] }]);
    expect(f!.reasons).toEqual([expect.stringMatching(new RegExp(`runs a file shown as ${REAL} that is not ${REAL} \\(device:inode \\d+:\\d+, expected \\d+:\\d+\\)`))]);
  });
});
