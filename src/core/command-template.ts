import type { Grant } from './grant.js';

/** A command as configured: an argv array run directly, or a string run by /bin/sh. Placeholders unexpanded. */
export type CommandTemplate = { argv: [string, ...string[]] } | { shell: string };

/**
 * Placeholders of a command door's start/stop commands. Each is replaced inside an argv element,
 * so a value never splits into more arguments; in a `shell = true` string every value is safe to
 * paste as is: an address literal, a validated door name ([A-Za-z0-9_.-]), digits and punctuation.
 */
export const PLACEHOLDERS = {
  src: 'the source address (IPv4 dotted quad or IPv6)',
  door: 'the door name',
  ports: 'the opened ports, comma-separated: 22/tcp,8443/tcp',
  expires: 'when the grant ends, in whole seconds since the epoch',
  family: '4 or 6',
} as const;

export type PlaceholderName = keyof typeof PLACEHOLDERS;

const PLACEHOLDER = /\{([A-Za-z_]+)\}/g;

/** Names inside `{…}` that are not placeholders, for the config reader to refuse. */
export function unknownPlaceholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !Object.hasOwn(PLACEHOLDERS, name));
}

export function placeholderValues(g: Grant): Record<PlaceholderName, string> {
  return {
    src: g.src,
    door: g.door,
    ports: g.ports.map((p) => `${p.port}/${p.proto}`).join(','),
    expires: String(Math.ceil(g.expiresAt / 1000)),
    family: String(g.family),
  };
}

function expandText(text: string, values: Record<PlaceholderName, string>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => (Object.hasOwn(values, name) ? values[name as PlaceholderName] : whole));
}

/** The command to run: placeholders replaced element by element (argv) or in the string (shell). */
export function expandCommand(template: CommandTemplate, values: Record<PlaceholderName, string>): CommandTemplate {
  if ('shell' in template) return { shell: expandText(template.shell, values) };
  const [program, ...args] = template.argv;
  return { argv: [expandText(program, values), ...args.map((a) => expandText(a, values))] };
}
