// The host I/O compliance suites against the Linux implementations (native addon), as root, each
// test in fresh uniquely named namespaces that are deleted afterwards.
import { describe, it } from "vitest";
import { openPacketSocket } from "../host/io/linux/packet.ts";
import { openTun } from "../host/io/linux/tun.ts";
import { tunDeviceCompliance, underlayCompliance } from "../host/io/testing/compliance.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { loadNative } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";
import { vethUnderlays } from "./helpers/underlay-pair.ts";

const root = canUseNetns();
if (root) loadNative();  // as root the addon must be built: fail loudly, never skip silently

describeRequiring(!root)("Linux host I/O (root, namespaces)", () => {
  for (const kind of ["tap", "tun"] as const) {
    tunDeviceCompliance("linux", kind, () => {
      const fx = new NetnsFixture();
      try {
        const ns = fx.addNetns("n");
        const device = openTun({ kind, name: fx.name(kind), netns: ns.path });
        fx.ip(["link", "set", "dev", device.name, "up"], ns.name);
        const peer = openPacketSocket(device.name, { netns: ns.path });
        return {
          device, peer,
          close: () => {
            peer.close();
            device.close();
            fx.cleanup();
          },
        };
      } catch (e) {
        fx.cleanup();
        throw e;
      }
    });
  }

  underlayCompliance("linux (veth between two namespaces)", () => vethUnderlays());
  underlayCompliance("linux, UDP GSO on send", () => vethUnderlays({ udpGso: true }));
  underlayCompliance("linux, UDP GSO on send and UDP GRO on receive", () => vethUnderlays({ udpGso: true, udpGro: true }, { udpGso: true, udpGro: true }));
});
