#!/usr/bin/env node
// `npm run conformance [-- --peer fwknop|knockd] [knockd's flags]`: the full differential run
// against a real peer (both peers without --peer), not in the CI suite, which runs the quick
// subsets under test/conformance/*.test.ts.
//   fwknop: the vitest file test/conformance/fwknop/full.conformance.ts.
//   knockd: test/conformance/run.sh, the knockd harness's own command line, which also takes
//           --quick, --only REGEX, --verbose and --keep DIR.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--peer');
const rest = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
const peers = at >= 0 ? [args[at + 1]] : ['knockd', 'fwknop'];
const runs = {
  knockd: () => spawnSync('bash', ['test/conformance/run.sh', '--peer', 'knockd', ...rest], { stdio: 'inherit' }),
  fwknop: () => spawnSync('npx', ['vitest', 'run', '--config', 'test/conformance/vitest.full.config.ts', 'test/conformance/fwknop/full.conformance.ts'], { stdio: 'inherit' }),
};
let status = 0;
for (const peer of peers) {
  const run = runs[peer];
  if (run === undefined) {
    console.error(`no full conformance run for peer "${peer}" (known: ${Object.keys(runs).join(', ')})`);
    status = 2;
    continue;
  }
  status ||= run().status ?? 1;
}
process.exit(status);
