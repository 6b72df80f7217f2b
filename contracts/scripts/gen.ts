// Generates src/generated.ts (TypeScript types) from the .avsc contracts, so no wire type is written twice.
// Run: npm run gen:contracts (from the repo root). A test checks the committed file is up to date.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { toTypeScript } from "@ovotech/avro-ts";
import type { Schema } from "avsc";

const root = join(import.meta.dirname, "..");

export function generate(): string {
  const parts: string[] = [
    "// DO NOT EDIT: generated from contracts/avro/**/*.avsc by contracts/scripts/gen.ts (npm run gen:contracts).",
    "/* eslint-disable */",
  ];
  for (const dir of ["domains", "log", "derived"]) {
    for (const file of readdirSync(join(root, "avro", dir))
      .filter((f) => f.endsWith(".avsc"))
      .sort()) {
      const schema = JSON.parse(readFileSync(join(root, "avro", dir, file), "utf8")) as Schema;
      parts.push(`\n// ${dir}/${file}`);
      parts.push(toTypeScript(schema, { logicalTypes: { "timestamp-millis": "number" } }).trim());
    }
  }
  return parts.join("\n") + "\n";
}

if (process.argv[1] === import.meta.filename) {
  writeFileSync(join(root, "src", "generated.ts"), generate());
  console.log("wrote contracts/src/generated.ts");
}
