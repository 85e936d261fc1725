// `weft router` from the bundle (dist/host/, `npm run build:host`) against the same command from
// the TypeScript sources through tsx (WEFT_FROM_SOURCES=1), side by side in one run: time from
// spawn to a control socket that answers, and the process's memory (RSS) 2 s later, idle.
// Root: the router runs in a node namespace of its own (host/demo/cluster.ts), removed at the end.
//
//   node --import tsx bench/router-start.ts [--rounds N] [--workers N] [--json FILE]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Cluster } from "../host/demo/cluster.ts";
import { RouterClient } from "../host/control/client.ts";
import { BUNDLES } from "../host/bundle.ts";
import { bundleIsFresh } from "../host/bundle-fresh.mjs";

const arg = (name: string, dflt: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const rounds = arg("rounds", 5), workers = arg("workers", 1);
const jsonAt = process.argv.indexOf("--json");
const jsonFile = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;
if (!bundleIsFresh(BUNDLES, new URL("../host", import.meta.url).pathname)) {
  console.error("router-start: dist/host is missing or older than host/: run `npm run build:host` first");
  process.exit(2);
}

type Variant = "bundle" | "sources";
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

const cluster = Cluster.create({ nodes: 1, podsPerNode: 0 });
const dir = mkdtempSync(join(tmpdir(), "weft-router-start-"));
const results: Record<Variant, { startMs: number[]; rssMiB: number[] }> = { bundle: { startMs: [], rssMiB: [] }, sources: { startMs: [], rssMiB: [] } };
try {
  const { mtu: _m, limits: _l, offloads: _o, ...raw } = cluster.nodes[0]!.config;
  for (let round = 0; round < rounds; round++) {
    for (const v of ["bundle", "sources"] as Variant[]) {
      const socket = join(dir, `${v}-${round}.sock`);
      const file = join(dir, "node.yaml");
      writeFileSync(file, stringify({ ...raw, workers, control: { socket, stateFile: false } }));
      const t0 = performance.now();
      const p = spawn(process.execPath, ["bin/weft.mjs", "router", "--config", file], {
        stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, WEFT_FROM_SOURCES: v === "sources" ? "1" : "0" },
      });
      let err = "";
      p.stderr!.on("data", (d) => { err += d; });
      try {
        let up = -1;
        while (up < 0 && performance.now() - t0 < 30_000 && p.exitCode === null) {
          if (existsSync(socket)) {
            const c = await RouterClient.connect({ socketPath: socket, timeoutMs: 500 }).catch(() => undefined);
            if (c) { await c.status(); c.close(); up = performance.now() - t0; break; }
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        if (up < 0) throw new Error(`${v}: the router did not come up: ${err}`);
        await new Promise((r) => setTimeout(r, 2000));
        const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))![1]) / 1024;
        results[v].startMs.push(Math.round(up));
        results[v].rssMiB.push(Math.round(rss));
        console.log(`round ${round + 1}/${rounds} ${v.padEnd(7)} up in ${Math.round(up)} ms, RSS ${rss.toFixed(0)} MiB`);
      } finally {
        p.kill("SIGTERM");
        await new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)));
      }
    }
  }
} finally {
  cluster.destroy();
  rmSync(dir, { recursive: true, force: true });
}
const b = results.bundle, s = results.sources;
const summary = {
  workers, rounds,
  bundle: { startMs: median(b.startMs), rssMiB: median(b.rssMiB) },
  sources: { startMs: median(s.startMs), rssMiB: median(s.rssMiB) },
  ratios: { start: +(median(b.startMs) / median(s.startMs)).toFixed(3), rss: +(median(b.rssMiB) / median(s.rssMiB)).toFixed(3) },
};
console.log(`\nweft router (workers: ${workers}), medians of ${rounds}: bundle up in ${summary.bundle.startMs} ms with ${summary.bundle.rssMiB} MiB; ` +
  `sources (tsx) ${summary.sources.startMs} ms with ${summary.sources.rssMiB} MiB; bundle/sources: start ${summary.ratios.start}, memory ${summary.ratios.rss}`);
if (jsonFile) writeFileSync(jsonFile, JSON.stringify(summary, null, 2));
