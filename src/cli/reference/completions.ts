import type { CommandDoc, OptionDoc } from './help-tree.js';

/**
 * bash and zsh completion for the CLI, rendered from its help tree: subcommands at each level,
 * each command's options, the choices of options that have them, and file names where an option
 * takes a value without fixed choices (and after the command, as the shell would anyway).
 */

const HEADER = '# Rendered from the CLI\'s own --help when the package is built; edits here are lost.';

function walk(cmd: CommandDoc): CommandDoc[] {
  return [cmd, ...cmd.commands.flatMap(walk)];
}

/** 'guard check' for ['knockgate', 'guard', 'check']. */
function key(cmd: CommandDoc): string {
  return cmd.path.slice(1).join(' ');
}

function single(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

export function renderBashCompletion(root: CommandDoc): string {
  const name = root.path[0]!;
  const fn = `_${name}`;
  const all = walk(root);
  const table = (pick: (c: CommandDoc) => string[]) =>
    all
      .map((c) => [c, pick(c)] as const)
      .filter(([, words]) => words.length > 0)
      .map(([c, words]) => `    ${single(key(c))}) echo ${single(words.join(' '))} ;;`)
      .join('\n');
  const valued = (c: CommandDoc) => c.options.filter((o) => o.valueName !== undefined).flatMap((o) => o.names);
  const choices = all.flatMap((c) =>
    c.options.filter((o) => o.choices !== undefined).map((o) => `    ${o.names.map((n) => single(`${key(c)}|${n}`)).join('|')}) echo ${single(o.choices!.join(' '))} ;;`),
  );
  return `${HEADER}
# bash completion for ${name}
${fn}_commands() {
  case "$1" in
${table((c) => c.commands.map((s) => s.path.at(-1)!))}
  esac
}
${fn}_options() {
  case "$1" in
${table((c) => c.options.flatMap((o) => o.names))}
  esac
}
# Options that take the next word as their value.
${fn}_valued() {
  case "$1" in
${table(valued)}
  esac
}
${fn}_choices() {
  case "$1" in
${choices.join('\n')}
  esac
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" word i skip=""
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if [[ -n $skip ]]; then skip=""; continue; fi
    if [[ $word == -* ]]; then
      [[ " $(${fn}_valued "$path") " == *" $word "* ]] && skip=1
      continue
    fi
    [[ " $(${fn}_commands "$path") " == *" $word "* ]] && path="\${path:+$path }$word"
  done
  if [[ " $(${fn}_valued "$path") " == *" $prev "* ]]; then
    # No fixed choices: nothing here, so bash falls back to file names (-o default).
    COMPREPLY=($(compgen -W "$(${fn}_choices "$path|$prev")" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${fn}_commands "$path")" -- "$cur"))
  fi
}
complete -o default -F ${fn} ${name}
`;
}

/** Text for inside `[...]` of an _arguments spec, in single quotes. */
function zshDescription(s: string): string {
  return s.replace(/\s+/g, ' ').replaceAll('\\', '\\\\').replaceAll('[', '\\[').replaceAll(']', '\\]').replaceAll(':', '\\:');
}

function zshOption(o: OptionDoc): string {
  let value = '';
  if (o.choices !== undefined) value = `:${o.valueName}:(${o.choices.join(' ')})`;
  else if (o.valueName !== undefined) value = `:${o.valueName}:_files`;
  const spec = `[${zshDescription(o.description)}]${value}`;
  if (o.names.length === 1) return single(`${o.names[0]}${spec}`);
  return `${single(`(${o.names.join(' ')})`)}{${o.names.join(',')}}${single(spec)}`;
}

function zshFunction(cmd: CommandDoc): string {
  return `_${cmd.path.join('__').replace(/[^A-Za-z0-9_]/g, '_')}`;
}

export function renderZshCompletion(root: CommandDoc): string {
  const name = root.path[0]!;
  const fns = walk(root).map((cmd) => {
    const options = cmd.options.map((o) => `    ${zshOption(o)} \\`).join('\n');
    if (cmd.commands.length === 0) {
      return `${zshFunction(cmd)}() {\n  _arguments -s -S \\\n${options}\n    '*: :_default'\n}`;
    }
    const subs = cmd.commands.map((s) => `      ${single(`${s.path.at(-1)!}:${s.description.replace(/\s+/g, ' ')}`)}`).join('\n');
    const branches = cmd.commands.map((s) => `      ${s.path.at(-1)!}) ${zshFunction(s)} ;;`).join('\n');
    return `${zshFunction(cmd)}() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  _arguments -C -s -S \\
${options}
    '1: :->command' \\
    '*:: :->args' && return
  case $state in
    command)
      local -a commands=(
${subs}
      )
      _describe -t commands ${single(`${cmd.path.join(' ')} command`)} commands ;;
    args)
      case $line[1] in
${branches}
      esac ;;
  esac
}`;
  });
  return `#compdef ${name}\n${HEADER}\n\n${fns.join('\n\n')}\n\n${zshFunction(root)} "$@"\n`;
}
