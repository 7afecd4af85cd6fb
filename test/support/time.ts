// Waiting in tests: for a time, or for a condition the kernel or the device makes true later
// (an eventfd wakeup, a DMA engine's timer). Deadlines are generous: under software emulation on
// a loaded host the guest's clock runs on while it waits for CPU time.

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` every 2 ms until it holds; throws naming `what` when `ms` pass first. */
export async function waitFor(what: string, pred: () => boolean, ms = 60000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
