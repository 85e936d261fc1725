// Entry of a data-plane worker thread: the host is TypeScript, run through tsx in this thread
// too (a worker does not inherit the main thread's module hooks).
import { register } from "tsx/esm/api";
register();
await import("./worker.ts");
