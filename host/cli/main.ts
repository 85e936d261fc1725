// The `weft` command line.
import { UsageError } from "./args.ts";
import { ConfigError } from "../config/node-config.ts";
import { readFileSync } from "node:fs";
import { bundled, packageRoot } from "../package-root.ts";
import { loadNative } from "../native/index.ts";

const usage = `usage: weft <command> [options]

commands:
  replay    run captured frames through the data plane (see weft replay --help)
  router    run a node's router (weft router --config node.yaml)
  demo      build a 2-node x 2-pod cluster in network namespaces and show it working
  version   this build: version, where it runs from, the native addon and its AOT runtime
  status | pods | routes | peers | counters   ask a running router (-o json for JSON)
  peers add|del, routes add|del               change its peers and static routes (see --help)`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<{ run: Command; help: string }>> = {
  replay: async () => { const m = await import("./replay.ts"); return { run: m.replayCommand, help: m.replayUsage }; },
  demo: async () => { const m = await import("./demo.ts"); return { run: m.demoCommand, help: m.demoUsage }; },
  router: async () => { const m = await import("./router.ts"); return { run: m.routerCommand, help: m.routerUsage }; },
  status: async () => { const m = await import("./query.ts"); return { run: m.makeQueryCommand("status"), help: m.queryUsage }; },
  pods: async () => { const m = await import("./query.ts"); return { run: m.makeQueryCommand("pods"), help: m.queryUsage }; },
  routes: async () => { const m = await import("./edit.ts"); return { run: m.routesCommand, help: m.routesUsage }; },
  peers: async () => { const m = await import("./edit.ts"); return { run: m.peersCommand, help: m.peersUsage }; },
  counters: async () => { const m = await import("./query.ts"); return { run: m.makeQueryCommand("counters"), help: m.queryUsage }; },
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "version" || cmd === "--version") { console.log(versionText()); return 0; }
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(`${usage}\n\nrunning from ${bundled ? "the bundled host (dist/host, npm run build:host)" : "the TypeScript sources (tsx)"}`);
    return cmd ? 0 : 2;
  }
  const load = commands[cmd];
  if (!load) { console.error(`weft: unknown command ${cmd}\n\n${usage}`); return 2; }
  const c = await load();
  if (rest.includes("--help") || rest.includes("-h")) { console.log(c.help); return 0; }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof UsageError) { console.error(`weft ${cmd}: ${e.message}\n\n${c.help}`); return 2; }
    if (e instanceof ConfigError) { console.error(`weft ${cmd}: config error: ${e.message}`); return 2; }
    console.error(`weft ${cmd}: ${(e as Error).message}`);
    return 1;
  }
}

/** `weft version`: one line per fact a bug report needs. */
function versionText(): string {
  const pkg = JSON.parse(readFileSync(`${packageRoot}package.json`, "utf8")) as { version: string };
  let addon: string;
  try {
    const n = loadNative();
    addon = `native addon ABI ${n.ABI}, AOT runtime ${n.aotAvailable ? "built in" : `not built (${n.aotMissing})`}`;
  } catch (e) {
    addon = (e as Error).message;
  }
  return [`weft ${pkg.version}`, `running from ${bundled ? "the bundled host (dist/host)" : "the TypeScript sources (tsx)"}`, `node ${process.version}`, addon].join("\n");
}
