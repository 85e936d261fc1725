// The README's first command runs `weft demo`: it must pass its own checks and leave nothing behind.
import { describe, it, expect } from "vitest";
import { execFileSync } from "node:child_process";
import { runDemo } from "../host/demo/demo.ts";

describe("weft demo", () => {
  it("builds 2 nodes x 2 pods, passes every check, removes everything", async () => {
    const lines: string[] = [];
    const prefix = `wdt${process.pid % 1000}`;
    const code = await runDemo({ prefix, bytes: 4 << 20, out: (s) => lines.push(s) });
    expect(code, lines.join("\n")).toBe(0);
    expect(lines.join("\n")).toMatch(/all checks passed; cluster removed/);
    expect(lines.filter((l) => l.includes("  ok ")).length).toBe(9);
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    expect(left).not.toContain(prefix);
  }, 180_000);
});
