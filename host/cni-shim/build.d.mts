// Types of build.mjs (plain JavaScript so that `npm install` runs it without tsx).
export declare const SHIM_SOURCE: string;
export declare const DEFAULT_SHIM_OUTFILE: string;
export declare class NoCompiler extends Error {
  constructor(cc: string);
}
/** Compile shim.c into `outfile` (mode 0755, replaced atomically); returns the path. */
export declare function buildShim(outfile?: string, opts?: { cc?: string; fallback?: string }): string;
