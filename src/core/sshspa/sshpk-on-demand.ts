import { createRequire } from 'node:module';
import type sshpkModule from 'sshpk';

const require = createRequire(import.meta.url);
let loaded: typeof sshpkModule | undefined;

/**
 * sshpk, loaded at its first use: it and its dependencies are ~4 MiB resident, and only SSH-key
 * doors (and the client's signer) parse SSH formats, so a daemon without them never loads it.
 */
export function loadSshpk(): typeof sshpkModule {
  return (loaded ??= require('sshpk') as typeof sshpkModule);
}
