import type { ArgumentDoc, CommandDoc, OptionDoc } from './help-tree.js';

export interface ManPageFacts {
  version: string;
  /** YYYY-MM-DD, e.g. the last commit's date, so a rebuild of one tree gives the same page. */
  date: string;
}

/** The state and config paths the Debian package and the daemon's defaults use. */
const FILES: [path: string, what: string][] = [
  ['/etc/knockgate/knockgate.toml', 'the config file (serve and check take it with --config)'],
  ['/var/lib/knockgate', 'state that survives a restart: grant journal, replay digests, pending stop commands'],
  ['/run/knockgate/control.sock', 'the control socket status talks to (mode 0660, group knockgate)'],
];

/** knockgate(1) in man(7) format, rendered from the CLI's help tree. */
export function renderManPage(root: CommandDoc, facts: ManPageFacts): string {
  const name = root.path[0]!;
  const out: string[] = [
    `.TH ${name.toUpperCase()} 1 "${facts.date}" "${name} ${facts.version}" "User Commands"`,
    '.SH NAME',
    `${name} \\- ${text(firstSentence(root.description))}`,
    '.SH SYNOPSIS',
    `.B ${name}`,
    '.I command',
    '.RI [ options ]',
    '.SH DESCRIPTION',
    text(root.description),
    '.SH OPTIONS',
    ...optionList(root.options),
    '.SH COMMANDS',
  ];
  for (const cmd of flatten(root.commands)) out.push(...commandSection(cmd));
  if (root.helpAfter) out.push('.SH EXAMPLES', ...verbatim(root.helpAfter));
  out.push('.SH FILES');
  for (const [path, what] of FILES) out.push('.TP', `.I ${path}`, text(what));
  out.push('.SH SEE ALSO', '.BR knock (1),', '.BR knockd (1),', '.BR fwknop (8),', '.BR fwknopd (8),', '.BR nft (8)');
  return `${out.join('\n')}\n`;
}

function flatten(cmds: CommandDoc[]): CommandDoc[] {
  return cmds.flatMap((c) => [c, ...flatten(c.commands)]);
}

function commandSection(cmd: CommandDoc): string[] {
  const lines = [`.SS "${text(cmd.usage)}"`, text(cmd.description)];
  lines.push(...argumentList(cmd.arguments), ...optionList(cmd.options));
  if (cmd.helpAfter) lines.push('.PP', ...verbatim(cmd.helpAfter));
  return lines;
}

function optionList(options: OptionDoc[]): string[] {
  return options.flatMap((o) => ['.TP', `.B ${text(o.term)}`, text(o.description)]);
}

function argumentList(args: ArgumentDoc[]): string[] {
  return args.flatMap((a) => ['.TP', `.I ${text(a.term)}`, text(a.description)]);
}

/** Help's own layout (examples lined up by hand), kept as printed. */
function verbatim(block: string): string[] {
  return ['.nf', ...block.split('\n').map((l) => text(l) || '.sp'), '.fi'];
}

function firstSentence(description: string): string {
  const colon = description.indexOf(':');
  return colon > 0 ? description.slice(0, colon) : description;
}

/**
 * Running text escaped for roff: a backslash prints as itself, `-` is a minus so copied options
 * work, and no line starts with a control character.
 */
function text(s: string): string {
  return s
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}
