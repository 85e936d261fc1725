// A router with its services (control socket, metrics), as `weft router` and the demo run it.
import type { NodeConfig } from "../config/node-config.ts";
import { createRouter, type Router, type RouterOptions } from "./router.ts";
import { ControlServer } from "./control-server.ts";
import { MetricsServer } from "./metrics.ts";
import { cniSocketOf, startCniServer, type CniServer } from "./cni-server.ts";

export interface RunningRouter { router: Router; control: ControlServer; cni: CniServer; metrics?: MetricsServer; stop(): Promise<void> }

export async function startRouterProcess(cfg: NodeConfig, opts: RouterOptions = {}): Promise<RunningRouter> {
  const router = createRouter(cfg, opts);
  await router.start();
  let control: ControlServer | undefined;
  let cni: CniServer | undefined;
  let metrics: MetricsServer | undefined;
  try {
    control = await ControlServer.listen(cfg.control.socket, router);
    router.addService(control);
    // The CNI fast path: the `weft` plugin shim hands whole CNI requests to this socket.
    cni = await startCniServer(router, cniSocketOf(cfg));
    router.addService(cni);
    if (cfg.metrics) {
      metrics = await MetricsServer.listen(cfg.metrics.listen, router);
      router.addService(metrics);
    }
  } catch (e) {
    await router.stop();
    throw e;
  }
  return { router, control, cni, metrics, stop: () => router.stop() };
}
