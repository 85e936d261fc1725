import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Network-namespace tests create and remove kernel objects; run files one at a time
    // so that two suites never fight over CPU-bound timing or names.
    fileParallelism: false,
    pool: "forks",
  },
});
