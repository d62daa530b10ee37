#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`, run by scripts/setup.sh).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('knockgate: not built yet; run `npm run build` (or scripts/setup.sh) first\n');
  process.exit(70);
}
await import(main.href);
