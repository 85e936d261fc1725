// weft peers add|del, weft routes add|del: change a running router's peers and static routes over
// its control socket (the router validates; its answer is printed). Without a subcommand the
// command lists, as before (query.ts). Changes persist across a router restart through
// control.stateFile (host/router/router-state.ts).
import { parseArgs, one, UsageError, type ParsedArgs } from "./args.ts";
import { RouterClient, RouterError } from "../control/client.ts";
import { DEFAULT_SOCKET_PATH, type AddRouteArgs } from "../control/protocol.ts";
import { makeQueryCommand, queryUsage } from "./query.ts";

export const peersUsage = `weft peers [-o table|json]
weft peers add NAME --underlay IP --vtep-mac MAC --pod-cidr CIDR [--pod-cidr CIDR ...]
weft peers del NAME
    [--socket PATH]

Lists the router's peers (the other nodes), adds or replaces one, or removes one. A change is
kept in the router's control.stateFile and replayed when it restarts.
${queryUsage}`;

export const routesUsage = `weft routes [-o table|json]
weft routes add DST --via peer:NAME|host|blackhole
weft routes del DST
    [--socket PATH]

Lists the router's routes, adds or replaces a static route, or removes one. A change is kept
in the router's control.stateFile and replayed when it restarts.
${queryUsage}`;

function socketOf(a: ParsedArgs): string {
  return one(a, "socket", false) ?? process.env.WEFT_SOCKET ?? DEFAULT_SOCKET_PATH;
}

function onlyOptions(a: ParsedArgs, known: string[]): void {
  for (const k of a.options.keys()) if (!known.includes(k)) throw new UsageError(`unknown option --${k}`);
}

/** The single positional argument after the subcommand. */
function target(a: ParsedArgs, what: string): string {
  if (a.positional.length !== 2) throw new UsageError(`${a.positional[0]} takes one ${what}`);
  return a.positional[1]!;
}

async function withRouter<T>(a: ParsedArgs, f: (c: RouterClient) => Promise<T>): Promise<T> {
  const c = await RouterClient.connect({ socketPath: socketOf(a) });
  try { return await f(c); } finally { c.close(); }
}

/** A router's refusal, as one line with its code (BAD_REQUEST, CONFLICT, NOT_FOUND ...). */
function refused(e: unknown): never {
  if (e instanceof RouterError) throw new Error(`${e.code}: ${e.message}`);
  throw e;
}

/**
 * `weft <command> del KEY`: removes it through `remove`; prints "<what> removed", or
 * "weft <command>: <absent>" and exits 1 when the router had no such entry. `names(key)` gives [what, absent].
 */
async function del(a: ParsedArgs, command: "peers" | "routes", keyName: string, remove: (c: RouterClient, key: string) => Promise<{ existed: boolean }>,
  names: (key: string) => [string, string]): Promise<number> {
  onlyOptions(a, ["socket"]);
  const key = target(a, keyName);
  const r = await withRouter(a, (c) => remove(c, key)).catch(refused);
  const [what, absent] = names(key);
  if (!r.existed) { console.error(`weft ${command}: ${absent}`); return 1; }
  console.log(`${what} removed`);
  return 0;
}

export async function peersCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const sub = a.positional[0];
  if (sub === undefined) return makeQueryCommand("peers")(argv);
  if (sub === "add") {
    onlyOptions(a, ["socket", "underlay", "vtep-mac", "pod-cidr"]);
    const name = target(a, "peer name");
    const podCIDRs = a.options.get("pod-cidr") ?? [];
    if (podCIDRs.length === 0) throw new UsageError("--pod-cidr is required (one or more)");
    const peer = { name, underlay: one(a, "underlay")!, vtepMac: one(a, "vtep-mac")!, podCIDRs };
    const r = await withRouter(a, (c) => c.addPeer(peer)).catch(refused);
    console.log(`peer ${name} ${r.created ? "added" : "replaced"}`);
    return 0;
  }
  if (sub === "del") return del(a, "peers", "peer name", (c, name) => c.removePeer({ name }), (name) => [`peer ${name}`, `no peer ${name}`]);
  throw new UsageError(`unknown subcommand ${sub} (add, del)`);
}

/** "peer:NAME", "host" or "blackhole" as a route target. */
function parseVia(via: string): AddRouteArgs["target"] {
  if (via === "host" || via === "blackhole") return { kind: via };
  if (via.startsWith("peer:") && via.length > 5) return { kind: "peer", peer: via.slice(5) };
  throw new UsageError(`--via ${via}: use peer:NAME, host or blackhole`);
}

export async function routesCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const sub = a.positional[0];
  if (sub === undefined) return makeQueryCommand("routes")(argv);
  if (sub === "add") {
    onlyOptions(a, ["socket", "via"]);
    const dst = target(a, "destination CIDR");
    const t = parseVia(one(a, "via")!);
    const r = await withRouter(a, (c) => c.addRoute({ dst, target: t })).catch(refused);
    console.log(`route ${dst} ${r.created ? "added" : "unchanged"}`);
    return 0;
  }
  if (sub === "del") return del(a, "routes", "destination CIDR", (c, dst) => c.removeRoute({ dst }), (dst) => [`route ${dst}`, `no static route ${dst}`]);
  throw new UsageError(`unknown subcommand ${sub} (add, del)`);
}
