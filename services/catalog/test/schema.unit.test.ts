// The canonical dump covers every table: a table added to the schema but not to DUMP_ORDER would drop
// out of the rebuild comparison (equal dumps must mean equal catalogs).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { DUMP_ORDER, openProjectionDb } from "../src/db/schema.ts";

const root = mkdtempSync(join(tmpdir(), "lake-catalog-schema-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("given a fresh catalog database, then DUMP_ORDER names each of its tables once, ordered by its primary key", { timeout: 30_000 }, () => {
  const db = openProjectionDb(join(root, "catalog.db"));
  try {
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((t) => t.name);
    assert.deepEqual(DUMP_ORDER.map(([t]) => t).sort(), tables);
    for (const [table, order] of DUMP_ORDER) {
      const pk = db
        .prepare<[], { name: string; pk: number }>(`SELECT name, pk FROM pragma_table_info('${table}') WHERE pk > 0 ORDER BY pk`)
        .all()
        .map((c) => c.name);
      assert.equal(order, pk.join(", "), table);
    }
  } finally {
    db.close();
  }
});
