import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../../src/cli/program.js';
import { renderBashCompletion, renderZshCompletion } from '../../src/cli/reference/completions.js';
import { readHelpTree, type CommandDoc } from '../../src/cli/reference/help-tree.js';
import { renderManPage } from '../../src/cli/reference/man-page.js';
import { mustRun, runCommand } from '../support/packaging.js';

/** The man page and the bash and zsh completions the Debian package ships, rendered from the CLI's help tree. */
let dir = '';
let tree: CommandDoc;
const all = (c: CommandDoc): CommandDoc[] => [c, ...c.commands.flatMap(all)];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'knockgate-reference-'));
  tree = readHelpTree(await loadProgram());
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('man page', () => {
  it('formats without a groff warning and shows every command with every option its --help shows', async () => {
    const file = join(dir, 'knockgate.1');
    writeFileSync(file, renderManPage(tree, { version: '9.9.9', date: '2026-12-02' }));
    const page = await mustRun('man', ['--warnings', '-l', file], { env: { ...process.env, MANWIDTH: '200', MAN_KEEP_FORMATTING: '' } });
    expect(page.stderr).toBe('');
    const text = page.stdout.replace(/.\x08/g, '');
    expect(text).toMatch(/^KNOCKGATE\(1\)/);
    expect(text).toMatch(/knockgate 9\.9\.9/);
    for (const cmd of all(tree).slice(1)) {
      expect(text, cmd.usage).toContain(cmd.usage);
      for (const opt of cmd.options) expect(text, `${cmd.usage}: ${opt.term}`).toContain(opt.term);
    }
    expect(all(tree).map((c) => c.path.join(' '))).toEqual(expect.arrayContaining(['knockgate serve', 'knockgate knock', 'knockgate guard check', 'knockgate aws sweep']));
  });

  it('follows the help: an option added to a command appears on the page, with its description', async () => {
    const program = await loadProgram();
    program.commands.find((c) => c.name() === 'knock')!.option('--added-for-this-test <n>', 'a description only this test gives');
    const page = renderManPage(readHelpTree(program), { version: '9.9.9', date: '2026-12-02' });
    expect(page).toContain('\\-\\-added\\-for\\-this\\-test <n>');
    expect(page).toContain('a description only this test gives');
  });
});

describe('bash completion', () => {
  it('completes the subcommands at each level, each command\'s options and the choices of options that have them', async () => {
    const file = join(dir, 'knockgate.bash');
    writeFileSync(file, renderBashCompletion(tree));
    const cases: { words: string[]; want: string[] }[] = [];
    for (const cmd of all(tree)) {
      const words = cmd.path;
      if (cmd.commands.length > 0) cases.push({ words: [...words, ''], want: cmd.commands.map((c) => c.path.at(-1)!) });
      cases.push({ words: [...words, '-'], want: cmd.options.flatMap((o) => o.names) });
      for (const opt of cmd.options.filter((o) => o.choices)) cases.push({ words: [...words, opt.names.at(-1)!, ''], want: [...opt.choices!] });
    }
    // A value taken by an option is not read as a subcommand.
    cases.push({ words: ['knockgate', 'serve', '--config', 'guard', '-'], want: tree.commands.find((c) => c.path.at(-1) === 'serve')!.options.flatMap((o) => o.names) });
    const script = [
      `source ${JSON.stringify(file)}`,
      ...cases.map(({ words }) => `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _knockgate; echo "\${COMPREPLY[*]}"`),
    ].join('\n');
    const ran = await mustRun('bash', ['--norc', '-c', script]);
    const got = ran.stdout.split('\n').slice(0, cases.length);
    expect(got.map((line, i) => [cases[i]!.words.join(' '), line.split(' ').filter(Boolean).sort()])).toEqual(cases.map((c) => [c.words.join(' '), [...c.want].sort()]));
  });
});

describe('zsh completion', () => {
  it('is valid zsh whose functions hand _arguments every option and _describe every subcommand', async () => {
    const file = join(dir, '_knockgate');
    writeFileSync(file, renderZshCompletion(tree));
    expect(await runCommand('zsh', ['-n', file])).toMatchObject({ code: 0, stderr: '' });
    // The completion system's two entry points, stubbed to print what they were given; _arguments
    // answers as it does when a `->command` state is due (300), so the subcommand list is offered.
    const stubs = '_arguments() { print -r -- "ARGUMENTS $*"; state=command; return 300 }\n_describe() { print -r -- "DESCRIBE ${(P)${@[-1]}}" }';
    const calls = all(tree).map((cmd) => `print -r -- "FUNCTION ${cmd.path.join(' ')}"; _${cmd.path.join('__')}`);
    // Sourcing the file defines every function and runs the top one once, before the first FUNCTION line.
    const ran = await mustRun('zsh', ['-f', '-c', [stubs, `source ${JSON.stringify(file)}`, ...calls, 'true'].join('\n')]);
    const sections = ran.stdout.split(/^FUNCTION /m).slice(1);
    expect(sections).toHaveLength(all(tree).length);
    for (const [i, cmd] of all(tree).entries()) {
      const out = sections[i]!;
      for (const name of cmd.options.flatMap((o) => o.names)) expect(out, `${cmd.path.join(' ')} ${name}`).toContain(name);
      for (const sub of cmd.commands) expect(out, `${cmd.path.join(' ')} ${sub.path.at(-1)}`).toMatch(new RegExp(`DESCRIBE .*\\b${sub.path.at(-1)}:`));
    }
  });
});
