import { parseArgs, one } from "./args.ts";
import { loadNodeConfig } from "../config/node-config.ts";
import { describeChanges, type Router } from "../router/router.ts";
import { startRouterProcess } from "../router/process.ts";

export const routerUsage = `weft router --config node.yaml

Runs this node's router: pod TAPs, the host TUN, the underlay, the control socket
(control.socket, default /run/weft/weft.sock) and Prometheus metrics (metrics.listen).
SIGTERM / SIGINT stop it and remove every interface and route it made. The pods it has
attached and the peers and routes changed through the control socket are kept in
control.stateFile (default /run/weft/weft.state.json): run again, after a stop or a crash,
it gives every pod whose namespace still exists its interface back and replays those changes
over the config's peers and routes. SIGHUP reads the config file again and takes its peers and
routes without a restart (a config that does not parse changes nothing; other fields that
changed are named and wait for the next start).`;

export async function routerCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const path = one(a, "config")!;
  const cfg = loadNodeConfig(path);
  let fatal: ((code: number) => void) | undefined;
  const failed = new Promise<number>((resolve) => { fatal = resolve; });
  // A data-plane worker died: the router already stopped and removed what it made.
  const running = await startRouterProcess(cfg, { onFatal: () => fatal!(1) });
  return await new Promise<number>((resolve) => {
    void failed.then(resolve);
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`weft[${cfg.name}]: ${sig}, shutting down\n`);
      running.stop().then(() => resolve(0), (e) => { process.stderr.write(`shutdown: ${(e as Error).message}\n`); resolve(1); });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", () => {
      if (!stopping) process.stderr.write(`weft[${cfg.name}]: SIGHUP: ${reloadConfig(running.router, path)}\n`);
    });
  });
}

/** Reads the config at `path` again and gives its peers and routes to the router: one line saying what changed, or why nothing did. */
export function reloadConfig(router: Router, path: string): string {
  try {
    const r = router.reload(loadNodeConfig(path));
    return `reloaded ${path}: ${describeChanges(r) || "peers and routes unchanged"}` +
      (r.restartNeeded.length ? `; ${r.restartNeeded.join(", ")} changed, taken at the next start` : "");
  } catch (e) {
    return `reload of ${path} refused, nothing changed: ${(e as Error).message}`;
  }
}
