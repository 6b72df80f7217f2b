// Catalog read latency at a steady request rate (open loop, keep-alive HTTP, whole body read): the
// latest version of a dataset (with its file list) and covering-offset reads of random offsets that are
// already committed (answered at once, no waiting).
import { CatalogClient } from "@lake/client";

import { httpGet, openLoop, pct, type Row } from "./lib.ts";

export async function catalogReads(
  catalogUrl: string,
  o: { dataset: string; rate: number; seconds: number; section: string; keyPrefix: string; label: string; covering: boolean; targets: boolean },
): Promise<Row[]> {
  const rows: Row[] = [];
  const catalog = new CatalogClient(catalogUrl);
  const latest = await catalog.version(o.dataset, "latest");
  const context = `${latest.version} versions, ${latest.files.length} files in the latest`;
  const base = new URL(`/v1/datasets/${o.dataset}/`, catalogUrl).toString();
  const kinds: { name: string; key: string; url: (i: number) => string }[] = [
    { name: "latest-version read", key: "latest", url: () => `${base}versions/latest` },
  ];
  if (o.covering) {
    const maxOffset = latest.source.last_offset;
    let x = 12345;
    const nextOffset = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return 1 + (x % maxOffset);
    };
    kinds.push({ name: "covering-offset read", key: "covering", url: () => `${base}covering?offset=${nextOffset()}&timeout_ms=0` });
  }
  // Warm up the connection pool and the catalog's statement cache.
  for (let i = 0; i < 50; i++) for (const k of kinds) await httpGet(k.url(i));
  for (const k of kinds) {
    let bytes = 0;
    const r = await openLoop(o.rate, o.seconds * 1000, async (i) => {
      const got = await httpGet(k.url(i));
      bytes += got.bytes;
    });
    const p99 = pct(r.latencies, 99);
    const kb = Math.round(bytes / Math.max(1, r.latencies.length) / 1024);
    const held = r.achievedRate >= o.rate * 0.95;
    rows.push({
      key: `${o.keyPrefix}_${k.key}_achieved_rps`,
      section: o.section,
      figure: `${k.name} (${o.label}): rate reached`,
      value: r.achievedRate,
      unit: "req/s",
      note: `${context}; ~${kb} KiB per answer${r.skipped ? `; ${r.skipped} requests skipped (256 in flight)` : ""}${r.errors ? `; ${r.errors} errors` : ""}`,
    });
    rows.push({ key: `${o.keyPrefix}_${k.key}_p50_ms`, section: o.section, figure: `  p50`, value: pct(r.latencies, 50), unit: "ms" });
    rows.push({
      key: `${o.keyPrefix}_${k.key}_p99_ms`,
      section: o.section,
      figure: `  p99`,
      value: p99,
      unit: "ms",
      ...(o.targets && k.key === "latest" ? { target: `≤ 5 ms at ${o.rate} req/s`, meets: held && p99 <= 5 } : {}),
    });
  }
  return rows;
}
