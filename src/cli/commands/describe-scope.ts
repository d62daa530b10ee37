import type { GrantScope } from '../../core/grant-scope.js';

/** `knockgate check`'s line for a door's one_shot and grant_prefix keys; none when the door has neither. */
export function describeScope(scope: GrantScope | undefined): string[] {
  if (!scope) return [];
  const who = [
    scope.prefix4 === undefined ? 'the IPv4 address' : `the IPv4 source's /${scope.prefix4}`,
    scope.prefix6 === undefined ? 'the IPv6 address' : `the IPv6 source's /${scope.prefix6}`,
  ].join(', ');
  return [`  grants:    ${who}${scope.oneShot ? '; one-shot: the first new connection uses a port\'s grant up' : ''}`];
}
