import { readFile, writeFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux port we run on). */
const USER_HZ = 100;

/**
 * CPU seconds a process has used: utime + stime of all its threads, plus what its waited-for
 * children used (cutime + cstime) — knockd's and fwknopd's firewall commands are children.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may hold spaces; fields count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / USER_HZ;
}

/** VmRSS and VmHWM in MiB. */
export async function residentMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Resets VmHWM to the current RSS, so the next reading is the peak of what follows. */
export async function resetPeakResident(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}
