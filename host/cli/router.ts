import { parseArgs, one } from "./args.ts";
import { loadNodeConfig } from "../config/node-config.ts";
import { describeChanges, type Router } from "../router/router.ts";
import { startRouterProcess, type RunningRouter } from "../router/process.ts";

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
  const say = (m: string) => process.stderr.write(`weft[${cfg.name}]: ${m}\n`);
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => { exit = resolve; });
  // The signals are ours from before the start: one that comes while the router is starting is
  // acted on once it has started (a SIGTERM then stops it cleanly, as later), never the default
  // action that would leave what it made behind.
  let running: RunningRouter | undefined;
  let stopping = false, reloadWaiting = false;
  const shutDown = (r: RunningRouter) => r.stop().then(() => exit(0), (e) => { say(`shutdown: ${(e as Error).message}`); exit(1); });
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    say(`${sig}, shutting down`);
    if (running) void shutDown(running);
  };
  const reload = () => {
    if (stopping) return;
    if (!running) { reloadWaiting = true; return; }
    say(`SIGHUP: ${reloadConfig(running.router, path)}`);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", reload);
  say(`starting (config ${path})`);
  // A data-plane worker died: the router already stopped and removed what it made.
  running = await startRouterProcess(cfg, { onFatal: () => exit(1) });
  if (stopping) void shutDown(running);
  else if (reloadWaiting) reload();
  return await exited;
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
