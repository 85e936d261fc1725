// Table operations replicated to every data-plane instance: the main thread's shadow Dataplane
// (validation, lookups, replay) and, with `workers: N > 1`, one Dataplane per worker thread.
//
// Design notes
// - A TableOp is one primitive Dataplane table call with its arguments as plain data (it crosses
//   threads by structured clone). NodeTables composes its named operations (a peer = the peer
//   slot + its routes) from these and undoes earlier steps itself; this module makes each step
//   all-or-nothing across replicas.
// - `TableFanout.apply(op)` applies `op` to replica 0, 1, ... in order. When replica k fails,
//   the replicas before it get the inverse ops (computed from the mirror *before* the op) and the
//   error is rethrown: nothing changed anywhere. Replica 0 is the shadow, so a bad argument fails
//   there first and no worker ever sees it.
// - A replica that fails to roll back is inconsistent: it is reported through `onInconsistent`
//   (the router stops; docs/WORKERS.md) and the original error is still thrown.
// - The mirror is the replicated state by key; `snapshot()` rebuilds it on a fresh replica.
import type { Dataplane, NodeDataplaneConfig, PeerEntry, PodEntry, RouteTarget } from "../wasm/dataplane.ts";

export type TableOp =
  | { op: "configure"; config: NodeDataplaneConfig }
  | { op: "attachPod"; port: number; pod: PodEntry }
  | { op: "detachPod"; port: number }
  | { op: "setPeer"; idx: number; peer: PeerEntry }
  | { op: "removePeer"; idx: number }
  | { op: "addRoute"; cidr: string; target: RouteTarget }
  | { op: "removeRoute"; cidr: string };

/** Applies one op to a Dataplane; returns what the Dataplane call returns (existed, for removals). */
export function applyTableOp(dp: Dataplane, op: TableOp): boolean {
  switch (op.op) {
    case "configure": dp.configure(op.config); return true;
    case "attachPod": dp.attachPod(op.port, op.pod); return true;
    case "detachPod": return dp.detachPod(op.port);
    case "setPeer": dp.setPeer(op.idx, op.peer); return true;
    case "removePeer": return dp.removePeer(op.idx);
    case "addRoute": dp.addRoute(op.cidr, op.target); return true;
    case "removeRoute": return dp.removeRoute(op.cidr);
  }
}

/** Something that holds a copy of the tables: the shadow Dataplane or a worker. */
export interface TableReplica {
  readonly name: string;
  /** Applies `op`; throws when it could not (and then changed nothing). */
  apply(op: TableOp): boolean;
}

export function localReplica(dp: Dataplane, name = "main"): TableReplica {
  return { name, apply: (op) => applyTableOp(dp, op) };
}

/** A replica (worker) failed an op that the replicas before it had applied; they were rolled back. */
export class ReplicaError extends Error {
  constructor(readonly replica: string, readonly op: TableOp["op"], cause: unknown) {
    super(`${replica}: ${op} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "ReplicaError";
  }
}

/** The replicated state by key, to compute inverses and to seed a new replica. */
export class TableMirror {
  config?: NodeDataplaneConfig;
  readonly pods = new Map<number, PodEntry>();
  readonly peers = new Map<number, PeerEntry>();
  readonly routes = new Map<string, RouteTarget>();

  /** The ops that undo `op` when applied after it, given the state before it. */
  inverse(op: TableOp): TableOp[] {
    switch (op.op) {
      case "configure": return this.config ? [{ op: "configure", config: this.config }] : [];
      case "attachPod": {
        const old = this.pods.get(op.port);
        return old ? [{ op: "attachPod", port: op.port, pod: old }] : [{ op: "detachPod", port: op.port }];
      }
      case "detachPod": {
        const old = this.pods.get(op.port);
        return old ? [{ op: "attachPod", port: op.port, pod: old }] : [];
      }
      case "setPeer": {
        const old = this.peers.get(op.idx);
        return old ? [{ op: "setPeer", idx: op.idx, peer: old }] : [{ op: "removePeer", idx: op.idx }];
      }
      case "removePeer": {
        const old = this.peers.get(op.idx);
        return old ? [{ op: "setPeer", idx: op.idx, peer: old }] : [];
      }
      case "addRoute": {
        const old = this.routes.get(op.cidr);
        return old ? [{ op: "addRoute", cidr: op.cidr, target: old }] : [{ op: "removeRoute", cidr: op.cidr }];
      }
      case "removeRoute": {
        const old = this.routes.get(op.cidr);
        return old ? [{ op: "addRoute", cidr: op.cidr, target: old }] : [];
      }
    }
  }

  record(op: TableOp): void {
    switch (op.op) {
      case "configure": this.config = op.config; break;
      case "attachPod": this.pods.set(op.port, op.pod); break;
      case "detachPod": this.pods.delete(op.port); break;
      case "setPeer": this.peers.set(op.idx, op.peer); break;
      case "removePeer": this.peers.delete(op.idx); break;
      case "addRoute": this.routes.set(op.cidr, op.target); break;
      case "removeRoute": this.routes.delete(op.cidr); break;
    }
  }

  /** Ops that build the current state on an empty replica: config, pods, peers, then routes. */
  snapshot(): TableOp[] {
    const ops: TableOp[] = [];
    if (this.config) ops.push({ op: "configure", config: this.config });
    for (const [port, pod] of this.pods) ops.push({ op: "attachPod", port, pod });
    for (const [idx, peer] of this.peers) ops.push({ op: "setPeer", idx, peer });
    for (const [cidr, target] of this.routes) ops.push({ op: "addRoute", cidr, target });
    return ops;
  }
}

export class TableFanout {
  readonly mirror = new TableMirror();
  private readonly replicas: TableReplica[];

  /**
   * `replicas[0]` is the authority (the shadow Dataplane): its error is rethrown as is.
   * `onInconsistent(replica, error)` reports a replica whose rollback failed.
   */
  constructor(replicas: TableReplica[], private readonly onInconsistent: (replica: string, e: Error) => void = () => {}) {
    this.replicas = [...replicas];
  }

  get replicaNames(): string[] { return this.replicas.map((r) => r.name); }

  /** Adds a replica that already holds the state of `mirror.snapshot()`. */
  addReplica(r: TableReplica): void { this.replicas.push(r); }

  removeReplica(name: string): void {
    const k = this.replicas.findIndex((r) => r.name === name);
    if (k > 0) this.replicas.splice(k, 1);
  }

  /** Applies `op` on every replica or on none; returns replica 0's result. */
  apply(op: TableOp): boolean {
    const undo = this.mirror.inverse(op);
    let result = false;
    for (let k = 0; k < this.replicas.length; k++) {
      try {
        const r = this.replicas[k]!.apply(op);
        if (k === 0) result = r;
      } catch (e) {
        for (let j = k - 1; j >= 0; j--) {
          const r = this.replicas[j]!;
          for (const u of undo) {
            try { r.apply(u); } catch (e2) { this.onInconsistent(r.name, e2 as Error); break; }
          }
        }
        if (k === 0) throw e;
        throw new ReplicaError(this.replicas[k]!.name, op.op, e);
      }
    }
    this.mirror.record(op);
    return result;
  }
}
