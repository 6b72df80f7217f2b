// A slow HTTP client for timeout tests: sends `head`, then `drip` one character every `everyMs`, and
// reports how long the server took to close the connection (Infinity if it hadn't after `giveUpMs`).
import { connect } from "node:net";

export function slowClient(
  target: { host: string; port: number },
  head: string,
  opts: { drip: string; everyMs: number; giveUpMs: number },
): Promise<{ closedAfterMs: number; answer: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(target.port, target.host);
    let answer = "";
    let i = 0;
    const timer = setInterval(() => {
      if (i < opts.drip.length && !socket.destroyed) socket.write(opts.drip[i++]!);
    }, opts.everyMs);
    const giveUp = setTimeout(() => finish(Number.POSITIVE_INFINITY), opts.giveUpMs);
    const finish = (closedAfterMs: number) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ closedAfterMs, answer });
    };
    socket.on("connect", () => socket.write(head));
    socket.on("data", (c) => (answer += c.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => finish(performance.now() - started));
  });
}
