import type { Finding } from './finding.js';

/**
 * What changed between two scans. Pure: a finding is reported when it appears and when it
 * clears, never again while it stays, so a poll every second does not repeat an alert.
 */

export interface FindingChange {
  change: 'appeared' | 'cleared';
  finding: Finding;
}

export function findingChanges(previous: ReadonlyMap<string, Finding>, current: readonly Finding[]): { changes: FindingChange[]; next: Map<string, Finding> } {
  const next = new Map(current.map((f) => [f.key, f]));
  const changes: FindingChange[] = [];
  for (const [key, finding] of previous) if (!next.has(key)) changes.push({ change: 'cleared', finding });
  for (const [key, finding] of next) if (!previous.has(key)) changes.push({ change: 'appeared', finding });
  return { changes, next };
}
