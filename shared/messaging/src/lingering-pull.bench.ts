// What reading a delivery's info off its reply subject costs (asserts nothing): the lingering pull's
// in-place read of its own consumer's subjects against the token parse every other form goes through.
//   node --import tsx shared/messaging/src/lingering-pull.bench.ts [rounds=500]
import { deliveryInfoOf } from "./lingering-pull.ts";

const rounds = Number(process.argv[2] ?? 500);
const own = { prefix: "$JS.ACK.EVENTS.lp_Wq3xD8mZk2Lp9aYtR4bN1c.", stream: "EVENTS", consumer: "lp_Wq3xD8mZk2Lp9aYtR4bN1c" };
const subjects = Array.from({ length: 1000 }, (_, i) => `${own.prefix}1.${100_000 + i}.${5000 + i}.17650000001234${String(i).padStart(5, "0")}.${i % 50}`);
for (const [name, ack] of [
  ["token parse", undefined],
  ["in place", own],
  ["token parse", undefined],
  ["in place", own],
] as const) {
  let sum = 0;
  const t = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const s of subjects) sum += deliveryInfoOf(s, ack)!.streamSequence;
  const ns = Number(process.hrtime.bigint() - t) / (rounds * subjects.length);
  console.log(`${name.padEnd(12)} ${ns.toFixed(0)} ns per delivery (checksum ${sum})`);
}
