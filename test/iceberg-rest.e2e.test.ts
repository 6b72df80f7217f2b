// A whole lake read through its Iceberg REST catalog by clients we did not write: iceberg-js lists the
// namespace and its tables and loads a table; icebird reads the `main` snapshot of the loaded metadata
// (manifest list, manifests, Parquet files) and gets the rows DuckDB reads from the same version's files.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { IcebergRestCatalog } from "iceberg-js";
import { icebergRead } from "icebird";

import { queryVersion, sampleEvents, sendHttp } from "@lake/client";
import { openStore } from "@lake/storage";

import { DATASET, settled, withFileFetch, withLake } from "./helpers.ts";

let lake: Awaited<ReturnType<typeof withLake>>;

before(async () => {
  lake = await withLake();
  for (let batch = 0; batch < 2; batch++) {
    const r = await sendHttp(lake.producer, DATASET, sampleEvents(40, { prefix: `ice${batch}`, seed: batch + 1 }));
    await lake.catalog.covering(DATASET, r.max_offset!, 30_000);
  }
  await settled(lake);
});
after(async () => {
  await lake?.cleanup();
});

test(
  "iceberg-js lists and loads the table; icebird reads its main snapshot: the rows DuckDB reads from the current version",
  { timeout: 300_000 },
  async () => {
    const catalog = new IcebergRestCatalog({ baseUrl: `${lake.catalogUrl}/iceberg` });
    const { namespaces } = await catalog.listNamespaces();
    assert.deepEqual(namespaces, [{ namespace: ["lake"] }], "the one namespace");
    const { identifiers } = await catalog.listTables({ namespace: ["lake"] });
    assert.ok(
      identifiers.some((t) => t.name === DATASET),
      JSON.stringify(identifiers),
    );

    const metadata = await catalog.loadTable({ namespace: ["lake"], name: DATASET });
    const current = await lake.catalog.version(DATASET, "current");
    const latest = await lake.catalog.version(DATASET, "latest");
    assert.ok(current.version >= 2, `versions committed: ${current.version}`);
    assert.equal(metadata["current-snapshot-id"], current.version, "main is the current version");
    assert.equal(metadata.refs?.latest?.["snapshot-id"], latest.version);
    assert.deepEqual(
      (metadata.snapshots ?? []).map((s) => s["snapshot-id"]),
      Array.from({ length: latest.version }, (_, i) => i + 1),
    );

    const tableUrl = metadata.location;
    assert.ok(tableUrl, "the table's location");
    const rows = await withFileFetch(() => icebergRead({ tableUrl, metadata: metadata as Parameters<typeof icebergRead>[0]["metadata"] }));
    const duck = await queryVersion(await openStore(lake.storeConfig), current, `SELECT event_id, user_id FROM ${DATASET} ORDER BY event_id`);
    assert.equal(rows.length, current.total_rows);
    const byIceberg = rows.map((r) => ({ event_id: String(r.event_id), user_id: String(r.user_id) })).sort((a, b) => (a.event_id < b.event_id ? -1 : 1));
    assert.deepEqual(
      byIceberg,
      duck.rows.map((r) => ({ event_id: String(r.event_id), user_id: String(r.user_id) })),
    );
    assert.equal(globalThis.fetch.name, "fetch", "the real fetch is back");
  },
);
