import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** libfaketime's multi-threaded preload library from Debian's faketime package, if installed. */
export function libfaketime(): string | undefined {
  const lib = '/usr/lib';
  for (const dir of existsSync(lib) ? readdirSync(lib) : []) {
    const path = join(lib, dir, 'faketime', 'libfaketimeMT.so.1');
    if (existsSync(path)) return path;
  }
  return undefined;
}

/**
 * An argv prefix that runs a command with its wall clock offset by what `offsetFile` says
 * (`+600`, `-8`: seconds), re-read on every call so a test can step the clock of a running
 * process. The monotonic clock is left alone, as a real clock step leaves it.
 */
export function fakeWallClock(offsetFile: string): string[] {
  const lib = libfaketime();
  if (!lib) throw new Error('libfaketime is not installed (Debian package faketime; scripts/setup.sh installs it)');
  return ['env', `LD_PRELOAD=${lib}`, `FAKETIME_TIMESTAMP_FILE=${offsetFile}`, 'FAKETIME_NO_CACHE=1', 'FAKETIME_DONT_FAKE_MONOTONIC=1'];
}
