// Errors of the emulated host. Each carries a `kind` so callers (the CLI, the test runner) can
// tell a broken setup from a failing command without parsing messages.

/** What went wrong in the emulated host, so callers can tell a broken setup from a failing command. */
export type VmErrorKind =
  | 'missing-tool'   // a host program is absent: the message names the apt-get command
  | 'provision'      // kernel resolution, download or extraction failed
  | 'kernel-path'    // --kernel PATH does not hold a usable kernel
  | 'kernel-build'   // building the custom kernel failed (the message quotes the build log)
  | 'options'        // invalid options (device spec, memory, …)
  | 'qemu'           // QEMU exited with an error of its own
  | 'panic'          // the guest kernel panicked
  | 'guest'          // the guest init reported an error (module, mount, bind, port)
  | 'timeout'        // the run took longer than its timeout
  | 'no-status'      // the guest stopped without reporting any result
  | 'monitor'        // a monitor request failed: an unknown device, device_del refused, no DEVICE_DELETED
  | 'cancelled';     // the run's AbortSignal fired (Ctrl-C in the CLI)

/** An error of the emulated host; its `kind` says which part failed and the message how to fix it. */
export class VmError extends Error {
  /** Which part failed. */
  readonly kind: VmErrorKind;
  /** The last kernel console lines, when the guest was booted. */
  readonly consoleTail?: string;

  constructor(kind: VmErrorKind, message: string, consoleTail?: string) {
    super(message);
    this.name = 'VmError';
    this.kind = kind;
    this.consoleTail = consoleTail;
  }
}

/** A missing host program, with the command that installs it. */
export function missingTool(program: string, aptPackage: string): VmError {
  return new VmError('missing-tool',
    `${program} not found: install it with \`apt-get install ${aptPackage}\``);
}
