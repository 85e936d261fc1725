// The host I/O compliance suites against the Linux implementations (native addon), as root, each
// test in fresh uniquely named namespaces that are deleted afterwards.
import { describe, it } from "vitest";
import { openPacketSocket } from "../host/io/linux/packet.ts";
import { openTun } from "../host/io/linux/tun.ts";
import { openUnderlay } from "../host/io/linux/underlay.ts";
import { tunDeviceCompliance, underlayCompliance } from "../host/io/testing/compliance.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { loadNative } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";

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

  underlayCompliance("linux (veth between two namespaces)", () => {
    const fx = new NetnsFixture();
    try {
      const A = fx.addNetns("a", { ipv6: true });
      const B = fx.addNetns("b", { ipv6: true });
      const va = fx.name("va");
      const vb = fx.name("vb");
      fx.addVeth(va, A.name, vb, B.name);
      fx.ip(["addr", "add", "198.18.0.1/24", "dev", va], A.name);
      fx.ip(["addr", "add", "fd00:7774::1/64", "dev", va, "nodad"], A.name);
      fx.ip(["addr", "add", "198.18.0.2/24", "dev", vb], B.name);
      fx.ip(["addr", "add", "fd00:7774::2/64", "dev", vb, "nodad"], B.name);
      fx.ip(["link", "set", va, "up"], A.name);
      fx.ip(["link", "set", vb, "up"], B.name);
      // Static neighbours: a burst must not wait in (and overflow) an unresolved-neighbour queue.
      const macA = fx.mac(va, A.name);
      const macB = fx.mac(vb, B.name);
      fx.ip(["neigh", "replace", "198.18.0.2", "lladdr", macB, "dev", va, "nud", "permanent"], A.name);
      fx.ip(["neigh", "replace", "fd00:7774::2", "lladdr", macB, "dev", va, "nud", "permanent"], A.name);
      fx.ip(["neigh", "replace", "198.18.0.1", "lladdr", macA, "dev", vb, "nud", "permanent"], B.name);
      fx.ip(["neigh", "replace", "fd00:7774::1", "lladdr", macA, "dev", vb, "nud", "permanent"], B.name);
      const a = openUnderlay({ netns: A.path });
      const b = openUnderlay({ netns: B.path });
      return {
        a, b, a4: "198.18.0.1", b4: "198.18.0.2", a6: "fd00:7774::1", b6: "fd00:7774::2",
        close: () => {
          a.close();
          b.close();
          fx.cleanup();
        },
      };
    } catch (e) {
      fx.cleanup();
      throw e;
    }
  });
});

