import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY } from '../support/guard-lab.js';
import { createHijackLab, startAttacker, type HijackLab } from './hijack-lab.js';

/**
 * A process whose main thread exited while another thread holds a listener: the thread-group
 * leader is a zombie, its /proc/<pid>/fd is empty and its exe unreadable, but the socket is in
 * /proc/<pid>/task/<tid>/fd. The guard reads the threads' fd table, so the holder is named
 * (pid, uid, the thread) instead of "owner not visible".
 */

const PORT = 2226;
let h: HijackLab;
let pid: number;

beforeAll(async () => {
  h = await createHijackLab();
  pid = (await startAttacker(h.lab.server, 'zombie-leader', 'evil', '0.0.0.0', PORT, { uid: NOBODY })).pid!;
});

afterAll(() => h?.destroy());

describe('a socket held only by a thread of a zombie leader', () => {
  it('is preempted with its holder visible', async () => {
    const state = () => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    expect(state()).toBe('Z');
    const { findings } = await h.check(`[guard]\n\n[guard.expect.ssh]\nport = "${PORT}/tcp"\nuid = 0\nexe = "/usr/sbin/sshd"\n`);
    expect(findings.map((f) => f.kind)).toEqual(['preempted']);
    const [socket] = findings[0]!.sockets;
    expect(socket!.owners).toMatchObject([{ pid, euid: NOBODY }]);
    expect(socket!.owners[0]!.viaThread).toBeGreaterThan(pid);
    expect(findings[0]!.reasons).not.toContain('owner not visible: no readable process holds the socket');
    expect(findings[0]!.summary).toContain('(leader exited)');
  });
});
