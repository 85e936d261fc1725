/**
 * Bundles the host for running: `dist/host/weft.mjs` (the `weft` command) and
 * `dist/host/worker.mjs` (a data-plane worker thread), ES modules with the npm packages left as
 * imports. `npm run build` makes them; bin/weft.mjs runs the bundle while it is at least as new as
 * every file under host/, and the TypeScript sources through tsx otherwise.
 *
 *   node --import tsx host/bundle.ts
 *
 * Why: through tsx every process and every worker thread loads a TypeScript loader (its own
 * thread and esbuild) and compiles the host at start. The bundle starts a router in about half
 * the time and with ~50 MiB less memory (docs/PERFORMANCE.md, "The bundled host"), which a
 * restart (the pods' traffic waits for it) and a small edge node both feel.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const BUNDLE_DIR = join(root, "dist/host");
/** The bundles bin/weft.mjs checks (host/bundle-fresh.mjs). */
export const BUNDLES = ["weft.mjs", "worker.mjs"].map((f) => join(BUNDLE_DIR, f));
const ENTRIES = { weft: "host/cli/run.ts", worker: "host/router/workers/worker.ts" } as const;

/** Builds both bundles into `outdir`; returns their paths. */
export async function buildHostBundle(outdir = BUNDLE_DIR): Promise<string[]> {
  const { build } = await import("esbuild");
  mkdirSync(outdir, { recursive: true });
  const out: string[] = [];
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const outfile = join(outdir, `${name}.mjs`);
    await build({
      entryPoints: [join(root, entry)], outfile, bundle: true, platform: "node", format: "esm", target: "node20",
      packages: "external", define: { __WEFT_BUNDLE__: "true" }, logLevel: "warning", legalComments: "none",
    });
    out.push(outfile);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const f of await buildHostBundle()) console.log(`wrote ${f}`);
}
