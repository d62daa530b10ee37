import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

let dl: DaemonLab;

beforeAll(async () => {
  dl = await createDaemonLab();
  await dl.serve(labConfig(dl.dir, labDoor()));
}, 60_000);

afterAll(async () => {
  await dl?.destroy();
});

/** `knockgate connect ARGS` in the client namespace: its exit status and what it wrote to stderr. */
function connect(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', dl.lab.client.ns, process.execPath, CLI, 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Bounded: a connect that never gave up would be killed here and fail the test.
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

it('a wrong knock never opens the door: connect gives up after --wait 2s with one line on stderr and exit status 1', async () => {
  const result = await connect(['--knock', '7000,8000,9000', '--wait', '2s', dl.lab.server.ip4, String(SERVICE_PORT)]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^knockgate: no connection to ${dl.lab.server.ip4.replaceAll('.', '\\.')} \\(\\S+\\) port ${SERVICE_PORT}/tcp within 2s \\(\\d+ attempts, last: timed out\\): the door did not open`));
  // The sequence's second hit was TCP, not the door's UDP: nothing was granted.
  expect(dl.logLines.some((l) => l.includes('"outcome":"open"'))).toBe(false);
}, 30_000);

it('a bad --wait is a usage error (exit status 2) that names the option', async () => {
  const result = await connect(['--knock', '7000', '--wait', 'soon', dl.lab.server.ip4, String(SERVICE_PORT)]);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/^error: bad --wait "soon": /);
}, 30_000);
