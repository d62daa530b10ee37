import { expect, it } from 'vitest';
import { memoryDaemon, settle } from '../support/memory-daemon.js';

it('lists each grant of one source under the door that made it, when two doors open for it', async () => {
  const m = memoryDaemon(`
[door.ssh]
sequence = ["7000"]
open = ["22/tcp"]

[door.web]
sequence = ["7100"]
open = ["443/tcp"]
`);
  await m.daemon.start();
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7000 }]);
  await settle();
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7100 }]);
  await settle();

  const grants = (await m.daemon.status()).grants.map(({ door, src, port }) => ({ door, src, port }));
  expect(grants.sort((a, b) => a.port.localeCompare(b.port))).toEqual([
    { door: 'ssh', src: '10.200.0.2', port: '22/tcp' },
    { door: 'web', src: '10.200.0.2', port: '443/tcp' },
  ]);
  await m.daemon.stop();
});
