/**
 * Build step (packaging/deb/build.sh): writes the man page and the bash and zsh completions,
 * rendered from the CLI's own help, into a directory.
 *   node dist/cli/reference/write-reference.js OUT_DIR [YYYY-MM-DD]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadProgram } from '../program.js';
import { VERSION } from '../version.js';
import { renderBashCompletion, renderZshCompletion } from './completions.js';
import { readHelpTree } from './help-tree.js';
import { renderManPage } from './man-page.js';

const [outDir, date = new Date().toISOString().slice(0, 10)] = process.argv.slice(2);
if (outDir === undefined) {
  process.stderr.write('usage: write-reference.js OUT_DIR [YYYY-MM-DD]\n');
  process.exit(2);
}
const tree = readHelpTree(await loadProgram());
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'knockgate.1'), renderManPage(tree, { version: VERSION, date }));
writeFileSync(join(outDir, 'knockgate.bash'), renderBashCompletion(tree));
writeFileSync(join(outDir, '_knockgate'), renderZshCompletion(tree));
