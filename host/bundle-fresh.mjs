// Whether the bundled host (dist/host/, host/bundle.ts) may run: it exists and no source under
// host/ is newer than it. Plain JavaScript: bin/weft.mjs decides with it before any TypeScript
// loader is there.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The newest modification time (ms) of the host's sources under `dir` (.ts, .mts, .mjs; build output skipped). */
export function newestSourceMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "build" && e.name !== "gen" && e.name !== "node_modules") newest = Math.max(newest, newestSourceMtime(p));
    } else if (/\.(ts|mts|mjs)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** True when every file in `bundles` exists and is at least as new as the newest source under `srcDir`. */
export function bundleIsFresh(bundles, srcDir) {
  let oldest = Infinity;
  for (const b of bundles) {
    try { oldest = Math.min(oldest, statSync(b).mtimeMs); } catch { return false; }
  }
  return oldest >= newestSourceMtime(srcDir);
}
