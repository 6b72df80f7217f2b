// Tracing: W3C trace context travels in NATS headers, so one event's trace runs from ingest through the
// committer to the commit log, the catalog's projection and the quality verdict. The services export
// OTLP/HTTP to a small receiver this test runs; the spans it receives must form one connected chain.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";

import { sampleEvents } from "@lake/client";
import { waitFor } from "@lake/testing";

import { bearer, DATASET, withLake } from "./helpers.ts";

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  links: { traceId: string; spanId: string }[];
}

const spans: ReceivedSpan[] = [];
let receiver: Server;
let lake: Awaited<ReturnType<typeof withLake>>;

// OTLP/JSON carries ids as hex (or base64 in some encoders): normalise to hex.
const hex = (id: unknown): string => {
  if (typeof id !== "string" || id === "") return "";
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, "base64").toString("hex");
};

before(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const doc = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string; links?: { traceId: string; spanId: string }[] }[] }[];
        }[];
      };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "?";
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans)
            spans.push({
              service,
              traceId: hex(s.traceId),
              spanId: hex(s.spanId),
              parentSpanId: hex(s.parentSpanId),
              name: s.name,
              links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
            });
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  lake = await withLake({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" } });
});
after(async () => {
  await lake?.cleanup();
  receiver?.close();
});

test("one event's trace connects ingest, committer, catalog and quality", async () => {
  const traceId = randomBytes(16).toString("hex");
  const producerSpan = randomBytes(8).toString("hex");
  const res = await fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
    method: "POST",
    headers: { "content-type": "application/json", traceparent: `00-${traceId}-${producerSpan}-01`, ...bearer(lake.producer.token) },
    body: JSON.stringify(sampleEvents(1, { prefix: "traced", seed: 3 })[0]),
  });
  assert.equal(res.status, 200);
  const inTrace = () => spans.filter((s) => s.traceId === traceId);
  // Spans arrive in export batches, per service and in any order: wait until every link of the chain has
  // arrived (the verdict's projection is the last one made), then check how they connect.
  await waitFor(
    "spans from ingest, committer, catalog and quality in the producer's trace, through the verdict's projection",
    () => {
      const t = inTrace();
      const services = new Set(t.map((s) => s.service));
      const all = ["ingest", "committer", "catalog", "quality"].every((x) => services.has(x));
      const checks = t.filter((s) => s.service === "quality" && s.name.startsWith(`quality ${DATASET} `)).map((s) => s.spanId);
      const verdict = t.some((s) => s.service === "catalog" && s.name === "catalog project QualityVerdict" && checks.includes(s.parentSpanId));
      return all && verdict ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );

  const t = inTrace();
  const ingest = t.find((s) => s.service === "ingest")!;
  assert.equal(ingest.parentSpanId, producerSpan, "ingest continues the producer's trace");
  // The event's dataset's spans: its window results carry the trace on, so the derived dataset's commit,
  // projection and check are in the same trace too.
  const commit = t.find((s) => s.service === "committer" && s.name === `commit ${DATASET}`)!;
  assert.equal(commit.parentSpanId, ingest.spanId, "the commit is a child of the ingest span (through the event's NATS headers)");
  const project = t.find((s) => s.service === "catalog" && s.name === "catalog project VersionCommitted" && s.parentSpanId === commit.spanId);
  assert.ok(project, "the catalog's projection continues the commit (through the commit-log record's headers)");
  const quality = t.find((s) => s.service === "quality" && s.name.startsWith(`quality ${DATASET} `))!;
  assert.equal(quality.parentSpanId, commit.spanId, "the quality check continues the commit");
  const verdictProjection = t.find((s) => s.service === "catalog" && s.name === "catalog project QualityVerdict" && s.parentSpanId === quality.spanId);
  assert.ok(verdictProjection && verdictProjection.parentSpanId === quality.spanId, "the verdict's projection continues the quality check");
});

test("a batch from several traces links them from the commit span", async () => {
  const traces = [randomBytes(16).toString("hex"), randomBytes(16).toString("hex"), randomBytes(16).toString("hex")];
  await Promise.all(
    traces.map((traceId, i) =>
      fetch(new URL(`/v1/domains/${DATASET}/events`, lake.ingestUrl), {
        method: "POST",
        headers: { "content-type": "application/json", traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`, ...bearer(lake.producer.token) },
        body: JSON.stringify(sampleEvents(1, { prefix: `linked${i}`, seed: 10 + i })[0]),
      }),
    ),
  );
  // Every trace reaches a commit: as its parent, or as one of its links.
  await waitFor(
    "a commit span for each trace",
    () => {
      const commits = spans.filter((s) => s.service === "committer" && s.name.startsWith("commit "));
      const reached = traces.filter((tid) => commits.some((c) => c.traceId === tid || c.links.some((l) => l.traceId === tid)));
      return reached.length === traces.length ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );
});
