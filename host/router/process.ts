// A router with its services (control socket, metrics), as `weft router` and the demo run it.
import type { NodeConfig } from "../config/node-config.ts";
import { createRouter, type Router, type RouterOptions } from "./router.ts";
import { ControlServer } from "./control-server.ts";
import { MetricsServer } from "./metrics.ts";

export interface RunningRouter { router: Router; control: ControlServer; metrics?: MetricsServer; stop(): Promise<void> }

export async function startRouterProcess(cfg: NodeConfig, opts: RouterOptions = {}): Promise<RunningRouter> {
  const router = createRouter(cfg, opts);
  await router.start();
  let control: ControlServer | undefined;
  let metrics: MetricsServer | undefined;
  try {
    control = await ControlServer.listen(cfg.control.socket, router);
    router.addService(control);
    if (cfg.metrics) {
      metrics = await MetricsServer.listen(cfg.metrics.listen, router);
      router.addService(metrics);
    }
  } catch (e) {
    await router.stop();
    throw e;
  }
  return { router, control, metrics, stop: () => router.stop() };
}
