// Typed errors of host I/O. Batch calls never throw for a single packet; they throw these when the
// port itself is unusable.

/** A system error of a port (open, configure, or an fd that went bad). */
export class IoError extends Error {
  override readonly name: string = "IoError";
  /** errno name, e.g. "EBADF", "EPERM", "EADDRINUSE". */
  readonly code: string;
  /** Negative errno as node reports it (0 when not a system error). */
  readonly errno: number;
  readonly syscall: string | undefined;

  constructor(message: string, code: string, errno = 0, syscall?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }

  /** Wraps an error thrown by the native addon (which carries code/errno/syscall). */
  static from(e: unknown, context: string): Error {
    if (e instanceof RangeError || e instanceof TypeError) return e;
    const x = e as { message?: string; code?: string; errno?: number; syscall?: string };
    if (x && typeof x.code === "string")
      return new IoError(`${context}: ${x.message}`, x.code, x.errno ?? 0, x.syscall, { cause: e });
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** A batch call on a port after close(). */
export class IoClosedError extends IoError {
  override readonly name = "IoClosedError";
  constructor(what: string) {
    super(`${what} is closed`, "ERR_IO_CLOSED");
  }
}
