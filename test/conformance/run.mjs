#!/usr/bin/env node
// `npm run conformance -- --peer fwknop|knockd`: the full differential run against a real peer.
// Each peer's run is a vitest file `test/conformance/<peer>/full.conformance.ts` (not in the CI
// suite, which runs the quick subsets under test/conformance/*.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const args = process.argv.slice(2);
const at = args.indexOf('--peer');
const peers = at >= 0 ? [args[at + 1]] : ['knockd', 'fwknop'];
let status = 0;
for (const peer of peers) {
  const file = `test/conformance/${peer}/full.conformance.ts`;
  if (!existsSync(file)) {
    console.error(`no full conformance run for peer "${peer}" (${file})`);
    status = 2;
    continue;
  }
  const run = spawnSync('npx', ['vitest', 'run', '--config', 'test/conformance/vitest.full.config.ts', file], { stdio: 'inherit' });
  status ||= run.status ?? 1;
}
process.exit(status);
