import net from 'node:net';

/**
 * True when something accepts a TCP connection on 127.0.0.1:`port`. A connection from the
 * port to itself does not count: while nothing listens, Linux may pick the destination port
 * as the probe's own source port (both come from the ephemeral range), and the socket then
 * "connects" to itself (TCP simultaneous open) though no server is there.
 */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      const self = socket.localPort === port;
      socket.destroy();
      resolve(!self);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Wait until a program started by a test accepts connections on `port`. `gone()` returns a
 * reason when the program has exited (no point waiting); `output()` is added to errors.
 */
export async function waitForPort(
  what: string,
  port: number,
  gone: () => string | undefined,
  output: () => string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = gone();
    if (reason !== undefined) throw new Error(`${what} ${reason}:\n${output()}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
