// Builds the addon with node-gyp without downloading node headers when the running node has them
// installed (<prefix>/include/node/node_api.h, e.g. Debian/NodeSource packages, official tarballs).
// Usage: node host/native/build.mjs [extra node-gyp args]; npm passes its bundled node-gyp in
// npm_config_node_gyp when run from a package script.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const prefix = path.dirname(path.dirname(process.execPath));
const args = ["rebuild", "-C", here, ...process.argv.slice(2)];
if (!args.some((a) => a.startsWith("--nodedir")) && existsSync(path.join(prefix, "include/node/node_api.h")))
  args.push(`--nodedir=${prefix}`);

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js"));
  } catch {}
  const npmDir = path.join(prefix, "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js");
  candidates.push(npmDir);
  return candidates.find((c) => c && existsSync(c));
}

// The AOT data plane's generated sources first (host/native/gen/, docs/AOT.md).
const gen = spawnSync(process.execPath, [path.join(here, "aot/generate.mjs")], { stdio: "inherit" });
if (gen.status !== 0) process.exit(gen.status ?? 1);

const gyp = findNodeGyp();
if (!gyp) {
  console.error("weft: node-gyp not found (install it, or run through npm which bundles one)");
  process.exit(1);
}
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: "inherit" });
process.exit(r.status ?? 1);
