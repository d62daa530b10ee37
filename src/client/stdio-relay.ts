import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/**
 * Relay `input` to the socket and the socket to `output` until the server closes, as ssh's
 * ProxyCommand needs: input's end only ends our side (the server may still answer); the server's
 * end finishes the relay once the output has taken everything. Resolves with the socket's error,
 * if it broke rather than closed.
 */
export function relay(socket: Socket, input: Readable, output: Writable): Promise<Error | undefined> {
  return new Promise((resolve) => {
    input.pipe(socket);
    socket.pipe(output, { end: false });
    let failure: Error | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      input.unpipe(socket);
      // An empty write's callback runs after every earlier write has been handed on.
      if (output.destroyed) resolve(failure);
      else output.write('', () => resolve(failure));
    };
    socket.once('error', (e) => (failure = e));
    // ssh gone (EPIPE on its pipe): nothing is left to relay to.
    output.once('error', (e: Error) => {
      failure = e;
      socket.destroy();
    });
    // The server's end (it may still read, but ssh needs nothing more) or a broken connection.
    socket.once('end', finish);
    socket.once('close', finish);
  });
}
