// Build the native CNI fast path (shim.c) with the system C compiler. No network, no npm
// packages: it runs from `npm install` as well as from bin/weft-cni-install.
//
//   node host/cni-shim/build.mjs [OUTFILE] [--strict]     (default dist/cni/weft-shim)
//
// CC selects the compiler (default cc). Without a compiler the CLI warns and exits 0, unless
// --strict: the Node plugin works on its own, only slower (see docs/CNI.md). A compile error
// always fails. The shim is linked statically when the C library allows it (an exec then maps
// no shared libraries: ~0.3 ms less per call), dynamically otherwise.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const SHIM_SOURCE = resolve(here, "shim.c");
export const DEFAULT_SHIM_OUTFILE = resolve(here, "../../dist/cni/weft-shim");

export class NoCompiler extends Error {
  constructor(cc) {
    super(`no C compiler (${cc}) found; set CC or install gcc`);
    this.name = "NoCompiler";
  }
}

/**
 * Compile shim.c into `outfile` (mode 0755, replaced atomically). `fallback`: absolute path of
 * the Node plugin compiled in as the first fallback candidate (default: looked up beside the
 * shim at run time). Returns the path. Throws NoCompiler, or Error with the compiler's output.
 */
export function buildShim(outfile = DEFAULT_SHIM_OUTFILE, opts = {}) {
  const cc = opts.cc ?? process.env.CC ?? "cc";
  const probe = spawnSync(cc, ["--version"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) throw new NoCompiler(cc);
  mkdirSync(dirname(outfile), { recursive: true });
  const tmp = `${outfile}.tmp.${process.pid}`;
  const base = ["-O2", "-s", "-std=gnu11", "-Wall", "-Wextra", "-o", tmp, SHIM_SOURCE];
  if (opts.fallback) base.unshift(`-DWEFT_CNI_FALLBACK=${JSON.stringify(opts.fallback)}`);
  let r = spawnSync(cc, ["-static", ...base], { encoding: "utf8" });
  if (r.status !== 0) r = spawnSync(cc, base, { encoding: "utf8" });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`${cc} failed on ${SHIM_SOURCE}:\n${r.stderr}`);
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, outfile);
  return outfile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const strict = args.includes("--strict");
  const out = args.find((a) => !a.startsWith("--"));
  try {
    process.stdout.write(`built ${buildShim(out ? resolve(out) : DEFAULT_SHIM_OUTFILE)}\n`);
  } catch (e) {
    if (e instanceof NoCompiler && !strict) {
      process.stderr.write(`weft: ${e.message}; the CNI fast path is not built (the Node plugin still works)\n`);
    } else {
      process.stderr.write(`weft: ${e.message}\n`);
      process.exit(1);
    }
  }
}
