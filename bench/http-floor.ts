// The floor under "one event per request over HTTP": the same client (http-load.ts, the same requests in
// flight) against a node:http server that does nothing but read the body and answer what
// ingest would answer for one accepted event. No validation, no NATS, no lake: whatever the lake's
// single-event rate is, it can't beat this one on the same machine, and the CPU per request of both
// sides is what HTTP alone costs here.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

import { sampleEvents } from "@lake/client";

import { procCpuSeconds, selfCpuSeconds, usPerEvent } from "./cpu.ts";
import { singleSender } from "./http-load.ts";
import { round, type Row } from "./lib.ts";

// Plain JavaScript, run by `node -e`: nothing to compile, nothing of the lake loaded.
const SERVER = `
const http = require("node:http");
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const event = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const body = JSON.stringify({ accepted: 1, duplicates: 0, rejected: 0, failed: 0, max_offset: 1,
      results: [{ index: 0, event_id: event.event_id, status: "accepted", offset: 1 }] });
    res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
// Asked to stop: drop the kept-alive connections and the listener; nothing is left to keep Node running.
process.on("SIGTERM", () => { server.closeAllConnections(); server.close(); });
`;

export async function httpFloor(o: { requests: number; concurrency: number; section: string }): Promise<Row[]> {
  const child: ChildProcess = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const [line] = (await Promise.race([
      once(child.stdout!, "data"),
      new Promise((_, reject) => setTimeout(() => reject(new Error("the HTTP floor server did not start within 10 s")), 10_000)),
    ])) as [Buffer];
    const client = singleSender({ url: `http://127.0.0.1:${String(line).trim()}`, token: "floor" }, o.concurrency);
    try {
      const events = sampleEvents(o.requests, { prefix: "floor", seed: 9 });
      const run = async (from: number, to: number) => {
        let next = from;
        await Promise.all(
          Array.from({ length: o.concurrency }, async () => {
            while (next < to) {
              const r = await client.send("domain_events", events[next++]!);
              if (r.status !== 200) throw new Error(`HTTP floor server answered ${r.status}`);
            }
          }),
        );
      };
      // A tenth to warm up both sides' JIT, then the measured rest.
      const warm = Math.floor(o.requests / 10);
      await run(0, warm);
      const n = o.requests - warm;
      const server0 = procCpuSeconds(child.pid!) ?? 0;
      const client0 = selfCpuSeconds();
      const t = performance.now();
      await run(warm, o.requests);
      const seconds = (performance.now() - t) / 1000;
      const server = usPerEvent((procCpuSeconds(child.pid!) ?? NaN) - server0, n);
      const clientUs = usPerEvent(selfCpuSeconds() - client0, n);
      return [
        {
          key: "http_floor_single_rps",
          section: o.section,
          figure: "HTTP floor: the same client against a server that only answers",
          value: n / seconds,
          unit: "req/s",
          note: `${n} requests, ${o.concurrency} in flight; CPU per request: client ${round(clientUs, 1)} µs, server ${round(server, 1)} µs (no lake)`,
        },
      ];
    } finally {
      await client.close();
    }
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
  }
}
