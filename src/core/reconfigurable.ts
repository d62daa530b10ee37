/**
 * An ability a part may have: taking new settings on a config reload, without a restart. Gates
 * and sensors that can implement it; what cannot change while running (the SPA socket, the AWS
 * groups) does not, and the reload says a restart is needed instead. `next` is the part's own
 * slice of the config, already validated.
 */
export interface Reconfigurable<T> {
  reconfigure(next: T): void | Promise<void>;
}
