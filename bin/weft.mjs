#!/usr/bin/env node
// Entry point of the `weft` command: the bundled host (dist/host/weft.mjs, `npm run build`) when it
// is at least as new as every source under host/, else the TypeScript sources through tsx (also
// with WEFT_FROM_SOURCES=1).
import { fileURLToPath } from "node:url";
import { bundleIsFresh } from "../host/bundle-fresh.mjs";

const at = (p) => fileURLToPath(new URL(p, import.meta.url));
if (process.env.WEFT_FROM_SOURCES !== "1" && bundleIsFresh([at("../dist/host/weft.mjs"), at("../dist/host/worker.mjs")], at("../host"))) {
  await import("../dist/host/weft.mjs");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("../host/cli/main.ts");
  process.exitCode = await main(process.argv.slice(2));
}
