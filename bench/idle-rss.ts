import { readFile } from 'node:fs/promises';
import { createBenchLab } from './bench-lab.js';

/**
 * Where an idle lab daemon's resident memory goes: the bench's lab and config, the daemon left
 * alone for a few seconds after it started, then its resident set by kind of mapping. One JSON
 * line (MiB). `node dist/bench/bench/idle-rss.js [settle-seconds]`, as root.
 */

/** Resident MiB by kind of mapping, from /proc/<pid>/smaps. */
export function residentByMapping(smaps: string): Record<string, number> {
  const kib: Record<string, number> = {};
  let kind = 'anonymous';
  for (const line of smaps.split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) {
      kind = mappingKind(mapping[1]!);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss) kib[kind] = (kib[kind] ?? 0) + Number(rss[1]);
  }
  return Object.fromEntries(Object.entries(kib).map(([k, v]) => [k, Math.round(v / 102.4) / 10]));
}

function mappingKind(path: string): string {
  if (path === '') return 'anonymous';
  if (path.startsWith('socket:') || path.includes('packet')) return 'capture rings';
  if (path === '[heap]') return 'malloc heap';
  if (path.startsWith('[')) return path;
  if (/\/node$/.test(path)) return 'node binary';
  if (path.endsWith('.node')) return 'addons';
  return 'other files';
}

async function main(): Promise<void> {
  const settleS = Number(process.argv[2] ?? 5);
  const lab = await createBenchLab();
  try {
    await new Promise((r) => setTimeout(r, settleS * 1000));
    const pid = lab.knockgatePid;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Math.round(Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) / 102.4) / 10;
    const threads = Number(/^Threads:\s+(\d+)$/m.exec(status)?.[1]);
    const byMapping = residentByMapping(await readFile(`/proc/${pid}/smaps`, 'utf8'));
    process.stdout.write(JSON.stringify({ idle_rss_mb: field('VmRSS'), idle_hwm_mb: field('VmHWM'), threads, by_mapping: byMapping }) + '\n');
  } finally {
    await lab.destroy();
  }
}

await main();
