import * as net from "node:net";

// 4222 is the NATS default, used by developers' long-running servers on this machine; nothing in
// tests may bind, probe or signal it.
export const RESERVED_PORTS: ReadonlySet<number> = new Set([4222]);

/**
 * A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close). Another process
 * can take it before the caller binds it, so callers that start servers retry on "address in use".
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await bindEphemeral();
    if (!RESERVED_PORTS.has(port)) return port;
  }
}

function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error(`unexpected server address ${String(address)}`));
      });
    });
  });
}

/** True if something accepts TCP connections on 127.0.0.1:port right now. */
export function acceptsConnections(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
