// The `weft` command's process entry (bin/weft.mjs imports main.ts directly; the bundle starts here).
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
