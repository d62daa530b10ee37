import { SpaError } from './spa-error.js';

/** The server decodes at most 64 base64 characters of username, so 48 bytes. */
export const MAX_USERNAME_BYTES = 48;

// Printable ASCII except the characters libfko refuses in a user name.
const USERNAME = /^[\x20-\x7e]+$/;
const FORBIDDEN = /["/\\[\]:;|=,+*?<>]/;

export function checkUsername(name: string): string {
  if (!USERNAME.test(name) || FORBIDDEN.test(name)) {
    throw new SpaError('bad-field', 'username must be printable ASCII without " / \\ [ ] : ; | = , + * ? < >');
  }
  if (name.length > MAX_USERNAME_BYTES) {
    throw new SpaError('bad-field', `username longer than ${MAX_USERNAME_BYTES} bytes is refused by fwknopd`);
  }
  return name;
}
