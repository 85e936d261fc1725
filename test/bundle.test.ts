// The bundled host (host/bundle.ts → dist/host/): bin/weft.mjs runs it only while no source under
// host/ is newer (host/bundle-fresh.mjs), the sources through tsx otherwise; a bundle built afresh
// runs the command. The routers the other tests spawn through bin/weft.mjs run the bundle whenever
// it is fresh (as after `npm ci`), the sources when not.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleIsFresh, newestSourceMtime } from "../host/bundle-fresh.mjs";
import { BUNDLES, buildHostBundle } from "../host/bundle.ts";

const at = (f: string, secs: number) => { writeFileSync(f, ""); utimesSync(f, secs, secs); };

describe("the bundled host", () => {
  it("is fresh only when every bundle exists and is at least as new as the newest source (build output skipped)", () => {
    const d = mkdtempSync(join(tmpdir(), "weft-bundle-"));
    try {
      mkdirSync(join(d, "src/sub/build"), { recursive: true });
      at(join(d, "src/a.ts"), 1000);
      at(join(d, "src/sub/b.mjs"), 2000);
      at(join(d, "src/sub/build/out.mjs"), 9000); // build output: not a source
      at(join(d, "src/notes.md"), 9000);          // not code
      expect(newestSourceMtime(join(d, "src"))).toBe(2_000_000);
      const b1 = join(d, "one.mjs"), b2 = join(d, "two.mjs");
      at(b1, 3000);
      expect(bundleIsFresh([b1, b2], join(d, "src"))).toBe(false); // one missing
      at(b2, 1500);
      expect(bundleIsFresh([b1, b2], join(d, "src"))).toBe(false); // one older than a source
      at(b2, 2000);
      expect(bundleIsFresh([b1, b2], join(d, "src"))).toBe(true);
      at(join(d, "src/a.ts"), 4000); // a source edited after the build
      expect(bundleIsFresh([b1, b2], join(d, "src"))).toBe(false);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("bin/weft.mjs runs the bundle exactly when it is fresh, the sources with WEFT_FROM_SOURCES=1", () => {
    const help = (env: Record<string, string>) => spawnSync(process.execPath, ["bin/weft.mjs", "--help"], { encoding: "utf8", env: { ...process.env, ...env } }).stdout;
    const fresh = bundleIsFresh(BUNDLES, join(process.cwd(), "host"));
    expect(help({})).toMatch(fresh ? /running from the bundled host/ : /running from the TypeScript sources/);
    expect(help({ WEFT_FROM_SOURCES: "1" })).toMatch(/running from the TypeScript sources \(tsx\)/);
    const version = spawnSync(process.execPath, ["bin/weft.mjs", "version"], { encoding: "utf8" });
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(version.stdout.split("\n").slice(0, 3)).toEqual([`weft ${pkg.version}`, `running from ${fresh ? "the bundled host (dist/host)" : "the TypeScript sources (tsx)"}`, `node ${process.version}`]);
    expect(version.stdout).toMatch(/^native addon ABI 2, AOT runtime (built in|not built \(.+\))$/m);
  });

  it("builds both bundles, and the command bundle runs on its own (no tsx)", async () => {
    // inside the package, as dist/host/ is: the npm packages it imports resolve from there
    mkdirSync(join(process.cwd(), "dist"), { recursive: true });
    const d = mkdtempSync(join(process.cwd(), "dist", "bundle-test-"));
    try {
      const files = await buildHostBundle(d);
      expect(files.map((f) => f.slice(d.length + 1))).toEqual(["weft.mjs", "worker.mjs"]);
      const r = spawnSync(process.execPath, [files[0]!, "--help"], { encoding: "utf8" });
      expect(r.stdout, r.stderr).toMatch(/running from the bundled host/);
      const bad = spawnSync(process.execPath, [files[0]!, "frobnicate"], { encoding: "utf8" });
      expect([bad.status, bad.stderr]).toEqual([2, expect.stringMatching(/unknown command frobnicate/)]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
});
