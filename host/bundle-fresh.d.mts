/** The newest modification time (ms) of the host's sources under `dir`. */
export function newestSourceMtime(dir: string): number;
/** True when every file in `bundles` exists and is at least as new as the newest source under `srcDir`. */
export function bundleIsFresh(bundles: string[], srcDir: string): boolean;
