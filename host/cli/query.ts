// weft status | pods | routes | peers | counters: ask a running router over its control socket.
import { parseArgs, one, UsageError } from "./args.ts";
import { RouterClient } from "../control/client.ts";
import { DEFAULT_SOCKET_PATH, type OpName } from "../control/protocol.ts";

export const queryUsage = `weft status|pods|routes|peers|counters [--socket PATH] [-o table|json]

Asks the router on PATH (default ${DEFAULT_SOCKET_PATH}, or $WEFT_SOCKET).`;

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((x, c) => x.padEnd(w[c]!)).join("  ").trimEnd()).join("\n");
}

/** The CLI's query commands and the control operation each one makes. */
const OPS = { status: "status", pods: "listPods", routes: "routes", peers: "peers", counters: "counters" } as const;

export function makeQueryCommand(what: keyof typeof OPS) {
  return async (argv: string[]): Promise<number> => {
    const a = parseArgs(argv);
    const out = one(a, "o", false) ?? one(a, "output", false) ?? "table";
    if (out !== "table" && out !== "json") throw new UsageError("-o takes table or json");
    const socketPath = one(a, "socket", false) ?? process.env.WEFT_SOCKET ?? DEFAULT_SOCKET_PATH;
    const c = await RouterClient.connect({ socketPath });
    try {
      const res = await c.call(OPS[what] as OpName, {} as never);
      if (out === "json") { console.log(JSON.stringify(res, null, 2)); return 0; }
      console.log(render(what, res as never));
      return 0;
    } finally {
      c.close();
    }
  };
}

function render(what: string, r: Record<string, unknown>): string {
  switch (what) {
    case "status": {
      const s = r as { nodeName: string; encapsulation: string; port: number; vni: number; mtu: { underlay: number; pod: number }; podCIDRs: string[]; clusterCIDRs: string[]; gateway4?: string; gateway6?: string; uptimeSeconds: number; counts: { pods: number; peers: number; routes: number }; health?: { ok: boolean; problems: string[] }; stateFile?: string };
      return table([
        ["node", s.nodeName], ["uptime", `${s.uptimeSeconds}s`], ["encapsulation", `${s.encapsulation} port ${s.port} vni ${s.vni}`],
        ["mtu", `underlay ${s.mtu.underlay}, pod ${s.mtu.pod}`], ["pod CIDRs", s.podCIDRs.join(" ")], ["cluster CIDRs", s.clusterCIDRs.join(" ") || "-"],
        ["gateways", [s.gateway4, s.gateway6].filter(Boolean).join(" ")], ["pods / peers / routes", `${s.counts.pods} / ${s.counts.peers} / ${s.counts.routes}`],
        ...(s.health ? [["health", s.health.ok ? "ok" : s.health.problems.join("; ")]] : []), ...(s.stateFile ? [["state file", s.stateFile]] : []),
      ]);
    }
    case "routes": {
      const routes = (r.routes as { dst: string; target: { kind: string; peer?: string; containerId?: string; ifName?: string }; origin: string }[]);
      return table([["DESTINATION", "TARGET", "ORIGIN"], ...routes.map((x) => [x.dst, x.target.kind === "peer" ? `peer ${x.target.peer}` : x.target.kind === "pod" ? `pod ${x.target.containerId}/${x.target.ifName}` : x.target.kind, x.origin])]);
    }
    case "pods": {
      const pods = r.pods as { containerId: string; ifName: string; netns: string; ipv4?: string; ipv6?: string; mac: string; network?: string; deviceGone?: boolean }[];
      return table([["CONTAINER", "IFNAME", "IPV4", "IPV6", "MAC", "NETWORK", "NETNS", "STATE"],
        ...pods.map((p) => [p.containerId, p.ifName, p.ipv4 ?? "-", p.ipv6 ?? "-", p.mac, p.network ?? "-", p.netns, p.deviceGone ? "device gone" : "up"])]);
    }
    case "peers": {
      const peers = r.peers as { name: string; underlay: string; vtepMac: string; podCIDRs: string[]; origin?: string }[];
      return table([["NAME", "UNDERLAY", "VTEP MAC", "POD CIDRS", "ORIGIN"], ...peers.map((p) => [p.name, p.underlay, p.vtepMac, p.podCIDRs.join(" "), p.origin ?? "-"])]);
    }
    default: {
      const c = r.counters as Record<string, number>;
      return table([["COUNTER", "VALUE"], ...Object.entries(c).filter(([, v]) => v !== 0).map(([k, v]) => [k, String(v)])]);
    }
  }
}
