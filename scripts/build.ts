/**
 * `bun run build`: compiles Chronik into one self-contained executable (dist/chronik).
 *
 * lmdb finds its native addon at run time by searching node_modules, which does not exist inside a
 * compiled executable. This build resolves the addon for the build machine's platform at build time
 * and imports it by a static path, so Bun embeds the .node file in the executable.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BunPlugin } from "bun";

const ROOT = resolve(import.meta.dir, "..");
const outfile = process.argv[2] ?? join(ROOT, "dist/chronik");

function lmdbAddonPath(): string {
  const libc = process.report?.getReport?.() && (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime ? "glibc" : "musl";
  const path = join(ROOT, "node_modules", "@lmdb", `lmdb-${process.platform}-${process.arch}`, `node.napi.${libc}.node`);
  if (!existsSync(path)) throw new Error(`lmdb's prebuilt addon for this platform was not found at ${path}; run npm install`);
  return path;
}

const embedLmdbAddon: BunPlugin = {
  name: "embed-lmdb-addon",
  setup(build) {
    const addon = lmdbAddonPath();
    // lmdb's native.js calls loadNAPI(dir); answer with the addon required by a static path.
    build.onResolve({ filter: /^node-gyp-build-optional-packages$/ }, (args) =>
      args.importer.includes(`${"/node_modules/lmdb/"}`) ? { path: "lmdb-addon", namespace: "chronik-embed" } : undefined,
    );
    build.onLoad({ filter: /^lmdb-addon$/, namespace: "chronik-embed" }, () => ({
      contents: `const addon = require(${JSON.stringify(addon)});\nexport default function loadNAPI() { return addon; }\n`,
      loader: "js",
    }));
  },
};

const result = await Bun.build({
  entrypoints: [join(ROOT, "src/main.ts")],
  compile: { outfile },
  target: "bun",
  minify: false,
  plugins: [embedLmdbAddon],
});
if (!result.success) {
  for (const message of result.logs) process.stderr.write(`${message}\n`);
  process.exit(1);
}
process.stdout.write(`built ${outfile}\n`);
