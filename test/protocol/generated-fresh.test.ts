/** The committed codecs are exactly what the generator makes from the schemas. */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generate } from "../../scripts/gen-protocol.ts";
import { SCHEMA_DIR, schemasPresent, SKIP_REASON } from "./schema-values.ts";

const GENERATED_DIR = join(import.meta.dir, "../../src/protocol/generated");

if (!schemasPresent) test.skip(`generated codecs are fresh (${SKIP_REASON})`, () => {});

test.skipIf(!schemasPresent)("src/protocol/generated matches a fresh generation (run `bun run gen:protocol`)", () => {
  const fresh = generate(SCHEMA_DIR);
  const committed = readdirSync(GENERATED_DIR).sort();
  expect(committed).toEqual([...fresh.keys()].sort());
  const stale = [...fresh].filter(([name, text]) => readFileSync(join(GENERATED_DIR, name), "utf8") !== text).map(([name]) => name);
  expect(stale).toEqual([]);
});
