// The browser's ranking (templates/static/recommend-rank.js) against the shared test vectors,
// the same file tests/test_recommend.py runs the Python ranking against. Run: node --test tests/js/
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const vectors = JSON.parse(readFileSync(join(root, "tests", "recommend_vectors.json"), "utf8"));

// The site serves the module as .js; node treats a bare .js outside a "type": "module" package as
// CommonJS, so load a byte-identical copy named .mjs.
const scratch = mkdtempSync(join(tmpdir(), "recommend-rank-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
const copy = join(scratch, "recommend-rank.mjs");
copyFileSync(join(root, "templates", "static", "recommend-rank.js"), copy);
const { rank } = await import(pathToFileURL(copy).href);

const FIELDS = ["slug", "reach", "score", "reasons", "lacks", "gaps"];

test("the vectors file has cases", () => {
  assert.ok(vectors.cases.length >= 10);
});

for (const c of vectors.cases) {
  test(c.name, () => {
    const data = { ...vectors.data, partners: c.partners };
    const out = rank(data, c.query);
    const got = {
      query: out.query,
      results: out.results.map((r) => Object.fromEntries(FIELDS.map((f) => [f, r[f]]))),
      advice: out.advice,
    };
    assert.deepStrictEqual(got, c.expected);
  });
}

test("ranking does not change the data it is given", () => {
  const c = vectors.cases[0];
  const data = JSON.parse(JSON.stringify({ ...vectors.data, partners: c.partners }));
  const before = JSON.stringify(data);
  rank(data, c.query);
  rank(data, c.query);
  assert.equal(JSON.stringify(data), before);
});
