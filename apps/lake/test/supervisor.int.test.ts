// The supervisor `lake up` runs its services under, with real child processes: a service that crashes
// every time is restarted with growing delays and a warning, never given up on; a killed service comes
// back (through a failed start, too); a stop is never answered with a restart.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { type ServiceHandle, spawnService, waitFor } from "@lake/testing";

import { type SupervisedService, Supervisor } from "../src/supervisor.ts";

const crashing = fileURLToPath(new URL("./fixtures/crashing-service.ts", import.meta.url));
const missing = fileURLToPath(new URL("./fixtures/no-such-service.ts", import.meta.url));
const policy = { initialMs: 200, factor: 2, maxMs: 1600, resetAfterMs: 60_000, loudAfter: 3 };

function harness() {
  const lines: string[] = [];
  const notes: string[] = [];
  const changes: SupervisedService[] = [];
  const supervisor = new Supervisor({
    restart: true,
    policy,
    log: (l) => lines.push(l),
    note: (_s, l) => notes.push(l),
    onChange: (s) => changes.push(s),
  });
  return { supervisor, lines, notes, changes };
}

test("a service that crashes every time is restarted with growing delays, warned about, and never given up", { timeout: 60_000 }, async () => {
  const { supervisor, lines, changes } = harness();
  const starts: number[] = [];
  const handles: ServiceHandle[] = [];
  const start = async () => {
    starts.push(Date.now());
    const h = await spawnService({ name: "crasher", entry: crashing, env: { FIXTURE_CRASH_AFTER_MS: "100" } });
    handles.push(h);
    return h;
  };
  try {
    await supervisor.run("crasher", start);
    await waitFor("five starts", () => (starts.length >= 5 ? true : undefined), { timeoutMs: 45_000 });
    // Each crash's exit time, then the start that answered it: the delay the supervisor really waited.
    const exits = changes.filter((c) => c.state === "restarting").map((c) => c.lastExit!.at);
    const waited = starts.slice(1, 5).map((s, i) => s - exits[i]!);
    [200, 400, 800, 1600].forEach((d, i) => assert.ok(waited[i]! >= d - 5, `restart ${i + 1} waited ${waited[i]} ms, at least ${d}`));
    for (let i = 1; i < waited.length; i++) assert.ok(waited[i]! > waited[i - 1]!, `the delays grow: ${waited.join(", ")}`);
    assert.deepEqual(lines.filter((l) => l.includes("restarting in")).slice(0, 4), [
      "crasher exited (code 3); restarting in 200 ms (restart 1)",
      "crasher exited (code 3); restarting in 400 ms (restart 2)",
      "crasher exited (code 3); restarting in 800 ms (restart 3)",
      "crasher exited (code 3); restarting in 1.6 s (restart 4)",
    ]);
    assert.match(
      lines.find((l) => l.startsWith("WARNING"))!,
      /^WARNING: crasher keeps crashing: 3 times in a row, each within 60 s of starting; still restarting/,
    );
    assert.ok(supervisor.get("crasher")!.restarts >= 4);
  } finally {
    await supervisor.stop();
    await Promise.all(handles.map((h) => h.stop()));
  }
  // Stopped: whatever restart was pending is cancelled. Wait past the longest delay, then check.
  const count = starts.length;
  const deadline = Date.now() + policy.maxMs + 500;
  await waitFor("the longest restart delay to pass", () => (Date.now() >= deadline ? true : undefined), { timeoutMs: 5000 });
  assert.equal(starts.length, count, "no start after stop()");
  assert.equal(supervisor.get("crasher")!.state, "stopped");
});

test("a killed service is restarted (a failed start is retried), and a stop is not a crash", { timeout: 60_000 }, async () => {
  const { supervisor, lines, notes } = harness();
  let calls = 0;
  const start = () => {
    calls++;
    // The first restart finds its entry file gone: it fails to start, and is retried.
    return spawnService({ name: "steady", entry: calls === 2 ? missing : crashing, env: {} });
  };
  const first = await supervisor.run("steady", start);
  try {
    await first.kill9();
    const back = await waitFor("the restart", () => {
      const s = supervisor.get("steady")!;
      return s.state === "running" && s.pid !== first.pid ? s : undefined;
    });
    assert.equal(back.restarts, 2);
    assert.equal(calls, 3);
    assert.equal(lines[0], "steady exited (signal SIGKILL); restarting in 200 ms (restart 1)");
    assert.match(lines[1]!, /^steady failed to start \(exited before logging a ready line \(exit code 1, signal null\)\); restarting in 400 ms \(restart 2\)$/);
    assert.equal(lines[2], `steady restarted (pid ${back.pid}, restart 2)`);
    assert.deepEqual(notes.slice(0, 3), lines.slice(0, 3), "the service's own log tells the same story");
  } finally {
    await supervisor.stop();
  }
  // The caller stops the processes after disarming the supervisor: recorded as stopped, not restarted.
  const h = await waitFor("the live handle", () => (supervisor.get("steady")!.pid ? supervisor.get("steady") : undefined));
  process.kill(h.pid!, "SIGTERM");
  await waitFor("the stop to be recorded", () => (supervisor.get("steady")!.state === "stopped" ? true : undefined));
  assert.equal(calls, 3, "no restart after the stop");
  assert.equal(notes.at(-1), "steady stopped (code 0)");
  await assert.rejects(supervisor.run("steady", start), /the lake is stopping/);
});
