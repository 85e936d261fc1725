// Table fan-out to data-plane replicas: all or none, rollback of the replicas that applied an op
// when a later one fails, and the same with real worker threads (each its own Wasm instance; no
// devices, so no root needed). Also the `workers` config field.
import { describe, it, expect, afterEach } from "vitest";
import { Dataplane } from "../host/wasm/dataplane.ts";
import { NodeTables } from "../host/tables/node-tables.ts";
import { TableFanout, ReplicaError, localReplica, applyTableOp, type TableOp, type TableReplica } from "../host/tables/fanout.ts";
import { WorkerPool, sumCounters } from "../host/router/workers/pool.ts";
import { parseNodeConfig, ConfigError } from "../host/config/node-config.ts";

const base = {
  name: "n1", vtepMac: "02:00:00:00:00:01", underlay: { ipv4: "192.168.9.1" }, podCIDRs: ["10.9.1.0/24", "fd00:9:1::/64"],
  peers: [{ name: "n2", underlay: "192.168.9.2", vtepMac: "02:00:00:00:00:02", podCIDRs: ["10.9.2.0/24"] }],
  limits: { maxPods: 8, maxPeers: 8, maxRoutes4: 64, maxRoutes6: 64 },
};
const limits = { maxPods: 8, maxPeers: 8, maxRoutes4: 64, maxRoutes6: 64 };

/** A replica over its own Dataplane that can be told to fail its next op of a kind. */
class FlakyReplica implements TableReplica {
  readonly dp = Dataplane.create(limits);
  failNext?: TableOp["op"];
  constructor(readonly name: string, seed: TableOp[]) { for (const op of seed) applyTableOp(this.dp, op); }
  apply(op: TableOp): boolean {
    if (this.failNext === op.op) { this.failNext = undefined; throw new Error("injected"); }
    return applyTableOp(this.dp, op);
  }
}

function tablesWith(n: number): { tables: NodeTables; replicas: FlakyReplica[] } {
  const tables = NodeTables.create(parseNodeConfig(base));
  const replicas = Array.from({ length: n }, (_, i) => new FlakyReplica(`fake ${i}`, tables.fanout.mirror.snapshot()));
  for (const r of replicas) tables.fanout.addReplica(r);
  return { tables, replicas };
}

describe("config: workers", () => {
  it("defaults to 1 and accepts 1..64", () => {
    expect(parseNodeConfig(base).workers).toBe(1);
    expect(parseNodeConfig({ ...base, workers: 4 }).workers).toBe(4);
  });
  it("rejects 0, fractions, strings and > 64 naming the field", () => {
    for (const w of [0, 1.5, "2", 65]) {
      expect(() => parseNodeConfig({ ...base, workers: w })).toThrow(ConfigError);
      expect(() => parseNodeConfig({ ...base, workers: w })).toThrow(/^workers: must be an integer in 1\.\.64/);
    }
  });
});

describe("table fan-out over replicas", () => {
  it("a snapshot rebuilds the same tables on a fresh replica", () => {
    const { tables, replicas } = tablesWith(1);
    tables.attachPod({ name: "p", mac: "02:00:00:00:01:01", ipv4: "10.9.1.5" });
    tables.addRoute({ dst: "10.50.0.0/16", via: "peer:n2" });
    const fresh = new FlakyReplica("fresh", tables.fanout.mirror.snapshot());
    for (const a of ["10.9.1.5", "10.9.2.7", "10.50.3.3", "10.9.1.1", "10.77.0.1"]) {
      expect(fresh.dp.lookup(a)).toEqual(tables.dp.lookup(a));
      expect(replicas[0]!.dp.lookup(a)).toEqual(tables.dp.lookup(a));
    }
  });

  it("every op reaches every replica", () => {
    const { tables, replicas } = tablesWith(3);
    tables.addRoute({ dst: "10.60.0.0/16", via: "blackhole" });
    tables.addPeer({ name: "n3", underlay: "192.168.9.3", vtepMac: "02:00:00:00:00:03", podCIDRs: ["10.9.3.0/24"] });
    const idx = tables.peers.get("n3")!.idx;
    for (const r of replicas) {
      expect(r.dp.lookup("10.60.1.1")).toEqual({ kind: "blackhole" });
      expect(r.dp.lookup("10.9.3.9")).toEqual({ kind: "peer", peer: idx });
    }
    tables.removePeer("n3");
    for (const r of replicas) expect(r.dp.lookup("10.9.3.9")).toBeUndefined();
  });

  it("a replica failing a route change leaves every replica and the shadow as before", () => {
    const { tables, replicas } = tablesWith(3);
    tables.addRoute({ dst: "10.60.0.0/16", via: "host" });
    replicas[2]!.failNext = "addRoute";
    expect(() => tables.addRoute({ dst: "10.60.0.0/16", via: "blackhole" })).toThrow(ReplicaError);
    expect(() => { replicas[1]!.failNext = "addRoute"; tables.addRoute({ dst: "10.61.0.0/16", via: "host" }); }).toThrow(/fake 1: addRoute failed: injected/);
    for (const dp of [tables.dp, ...replicas.map((r) => r.dp)]) {
      expect(dp.lookup("10.60.1.1")).toEqual({ kind: "host" }); // the old target is back
      expect(dp.lookup("10.61.1.1")).toBeUndefined();            // the new route is gone
    }
    expect(tables.routes.get("10.61.0.0/16")).toBeUndefined();
  });

  it("a replica failing the middle step of a peer add: the peer and its routes are nowhere", () => {
    const { tables, replicas } = tablesWith(2);
    replicas[1]!.failNext = "addRoute";
    expect(() => tables.addPeer({ name: "n3", underlay: "192.168.9.3", vtepMac: "02:00:00:00:00:03", podCIDRs: ["10.9.3.0/24", "10.9.4.0/24"] })).toThrow(ReplicaError);
    expect(tables.peers.has("n3")).toBe(false);
    for (const dp of [tables.dp, ...replicas.map((r) => r.dp)]) {
      expect(dp.lookup("10.9.3.1")).toBeUndefined();
      expect(dp.lookup("10.9.2.1")?.kind).toBe("peer"); // n2 untouched
    }
    expect(tables.fanout.mirror.peers.size).toBe(1);
  });

  it("a pod attach that fails on a replica is undone; a bad pod fails on the shadow before any replica", () => {
    const { tables, replicas } = tablesWith(2);
    replicas[1]!.failNext = "attachPod";
    expect(() => tables.attachPod({ name: "p", mac: "02:00:00:00:01:01", ipv4: "10.9.1.5" })).toThrow(ReplicaError);
    expect(tables.pods.size).toBe(0);
    for (const dp of [tables.dp, ...replicas.map((r) => r.dp)]) expect(dp.lookup("10.9.1.5")).toBeUndefined();
    let seen = 0;
    tables.fanout.addReplica({ name: "spy", apply: () => { seen++; return true; } });
    expect(() => tables.attachPod({ name: "q", mac: "02:00:00:00:01:02", ipv4: "10.9.1.6", port: 9999 })).toThrow(/out of range/);
    expect(seen).toBe(0);
  });

  it("reports a replica whose rollback failed", () => {
    const dp = Dataplane.create(limits);
    const bad: string[] = [];
    let calls = 0;
    const flaky: TableReplica = { name: "w0", apply: () => { if (++calls > 1) throw new Error("gone"); return true; } };
    const f = new TableFanout([localReplica(dp), flaky, { name: "w1", apply: () => { throw new Error("no"); } }], (n) => bad.push(n));
    expect(() => f.apply({ op: "addRoute", cidr: "10.1.0.0/16", target: { kind: "host" } })).toThrow(ReplicaError);
    expect(bad).toEqual(["w0"]);
    expect(dp.lookup("10.1.2.3")).toBeUndefined();
  });
});

describe("table fan-out to real worker threads", () => {
  let pool: WorkerPool | undefined;
  afterEach(async () => { await pool?.close(); pool = undefined; });

  it("seeds each worker with the tables and applies every op to each", async () => {
    const tables = NodeTables.create(parseNodeConfig(base));
    tables.attachPod({ name: "p", mac: "02:00:00:00:01:01", ipv4: "10.9.1.5" });
    const failures: string[] = [];
    pool = await WorkerPool.start({ count: 2, limits, snapshot: () => tables.fanout.mirror.snapshot(), onFailure: (w) => failures.push(w) });
    for (const w of pool.workers) tables.fanout.addReplica(w);
    const port = tables.pods.get("p")!.port;
    for (const w of pool.workers) expect(w.call({ type: "lookup", addr: "10.9.1.5" })).toEqual({ kind: "pod", port });
    tables.addRoute({ dst: "10.70.0.0/16", via: "peer:n2" });
    tables.detachPod("p");
    for (const w of pool.workers) {
      expect(w.call({ type: "lookup", addr: "10.70.1.1" })).toEqual({ kind: "peer", peer: tables.peers.get("n2")!.idx });
      expect(w.call({ type: "lookup", addr: "10.9.1.5" })).toBeNull();
    }
    // counters of separate instances sum (all zero here: no packets)
    const k = pool.counters();
    expect(k.ports.length).toBe(sumCounters([k]).ports.length);
    expect(failures).toEqual([]);
  });

  it("a worker that died fails the op; the shadow and the other worker are rolled back; the failure is reported", async () => {
    const tables = NodeTables.create(parseNodeConfig(base));
    const failures: string[] = [];
    pool = await WorkerPool.start({ count: 2, limits, snapshot: () => tables.fanout.mirror.snapshot(), onFailure: (w) => failures.push(w), timeoutMs: 2000 });
    for (const w of pool.workers) tables.fanout.addReplica(w);
    await pool.workers[1]!.thread.terminate();
    await new Promise((r) => setTimeout(r, 50)); // let the exit event arrive
    expect(failures).toEqual(["worker 1"]);
    expect(() => tables.addRoute({ dst: "10.80.0.0/16", via: "blackhole" })).toThrow(/worker 1/);
    expect(tables.dp.lookup("10.80.0.1")).toBeUndefined();
    expect(pool.workers[0]!.call({ type: "lookup", addr: "10.80.0.1" })).toBeNull();
  });
});
