// Where the package's files are at run time: build/ (the Wasm), host/native/build/ (the addon),
// host/demo/ (the demo's tools), dist/ (the bundles). From the sources this file is host/, from
// the bundle (host/bundle.ts) the code runs in dist/host/: the bundle defines __WEFT_BUNDLE__.
import { fileURLToPath } from "node:url";

declare const __WEFT_BUNDLE__: boolean | undefined;

/** True in the bundled host (dist/host/*.mjs), false when run from the TypeScript sources. */
export const bundled = typeof __WEFT_BUNDLE__ !== "undefined" && __WEFT_BUNDLE__;

/** The package's root directory, with a trailing slash. */
export const packageRoot = fileURLToPath(new URL(bundled ? "../../" : "../", import.meta.url));
