import { FileSshKeyRing } from '../../src/store/ssh-key-ring.js';

/** A door's key ring from authorized_keys and trusted_user_ca files given by path. */
export function ringOfFiles(files: { authorizedKeys?: string; trustedUserCa?: string }): FileSshKeyRing {
  return FileSshKeyRing.read({ ...(files.authorizedKeys && { authorizedKeys: { file: files.authorizedKeys } }), ...(files.trustedUserCa && { trustedUserCa: { file: files.trustedUserCa } }) });
}
