#!/usr/bin/env node
/**
 * Builds the browser page (web/) into dist/web/: esbuild bundles web/main.ts
 * and what it imports (gen/, @connectrpc/connect-web, protobuf-es) into one
 * minified app.js with its source map; index.html and style.css are copied.
 * The HTTP door (src/http/page.ts) serves exactly these files.
 *
 * Plain JavaScript so that `npm run build` runs it straight after tsc.
 */
import { copyFile, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = path.join(ROOT, "web");
const OUTPUT = path.join(ROOT, "dist", "web");

await rm(OUTPUT, { recursive: true, force: true });
await mkdir(OUTPUT, { recursive: true });
await build({
  entryPoints: [path.join(SOURCE, "main.ts")],
  outfile: path.join(OUTPUT, "app.js"),
  tsconfig: path.join(SOURCE, "tsconfig.json"),
  bundle: true,
  format: "esm",
  platform: "browser",
  // Browsers of the last few years: BigInt (int64 fields) and native ES2022 classes.
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
await Promise.all(["index.html", "style.css"].map((file) => copyFile(path.join(SOURCE, file), path.join(OUTPUT, file))));
