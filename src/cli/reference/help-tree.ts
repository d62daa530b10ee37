import { type Command, type Option } from 'commander';

/**
 * The CLI's own help, read out of commander into plain values: the man page and the shell
 * completions are rendered from this at build time, so they say what `--help` says.
 */
export interface OptionDoc {
  /** `-c`, `--config`: every spelling the parser takes. */
  names: string[];
  /** As help shows it: `-c, --config <path>`. */
  term: string;
  /** As help shows it, with choices and default. */
  description: string;
  /** The name of the value the option requires (`path`); undefined when it takes none or an optional one. */
  valueName: string | undefined;
  /** The only values the option takes, when commander knows them. */
  choices: readonly string[] | undefined;
}

export interface ArgumentDoc {
  term: string;
  description: string;
}

export interface CommandDoc {
  /** ['knockgate', 'guard', 'check'] */
  path: string[];
  usage: string;
  description: string;
  options: OptionDoc[];
  arguments: ArgumentDoc[];
  /** Text the command adds after its help (examples, exit status), as printed. */
  helpAfter: string;
  commands: CommandDoc[];
}

/** Reads a command and its subcommands (not commander's implicit `help` command). */
export function readHelpTree(cmd: Command, parents: string[] = []): CommandDoc {
  const help = cmd.createHelp();
  const path = [...parents, cmd.name()];
  return {
    path,
    usage: `${path.join(' ')} ${cmd.usage()}`.trim(),
    description: help.commandDescription(cmd),
    options: help.visibleOptions(cmd).map((opt) => optionDoc(opt, help.optionTerm(opt), help.optionDescription(opt))),
    arguments: help.visibleArguments(cmd).map((arg) => ({ term: help.argumentTerm(arg), description: help.argumentDescription(arg) })),
    helpAfter: helpAfter(cmd),
    commands: help
      .visibleCommands(cmd)
      // commander's implicit `help [command]` is listed but not registered: it is not the CLI's own.
      .filter((sub) => cmd.commands.includes(sub))
      .map((sub) => readHelpTree(sub, path)),
  };
}

function optionDoc(opt: Option, term: string, description: string): OptionDoc {
  const value = /<([^>]+)>/.exec(opt.flags);
  return {
    names: [opt.short, opt.long].filter((n): n is string => n !== undefined),
    term,
    description,
    valueName: value?.[1],
    choices: opt.argChoices,
  };
}

/** What `--help` prints after the generated part: the text given to addHelpText('after'). */
function helpAfter(cmd: Command): string {
  let printed = '';
  let generated = '';
  const saved = cmd.configureOutput();
  cmd.configureOutput({ ...saved, writeOut: (s) => (printed += s), getOutHelpWidth: () => 100, getOutHasColors: () => false });
  try {
    cmd.outputHelp();
    generated = cmd.helpInformation();
  } finally {
    cmd.configureOutput(saved);
  }
  const at = printed.indexOf(generated);
  return (at < 0 ? '' : printed.slice(at + generated.length)).replace(/^\n+|\s+$/g, '');
}
