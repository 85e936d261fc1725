#!/usr/bin/env node
// Entry point of the `weft` command: runs the TypeScript host through tsx.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../host/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
