// What one doctor check reports: a status, what was found, and the exact fix when it failed.
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable name for scripts: 'iommu', 'cmdline', 'modules', … (docs/cli.md lists them). */
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found. */
  readonly detail: string;
  /** What to do, when the status is 'fail' or 'warn' and something can be done on this machine. */
  readonly fix?: string;
  /** The device the check is about; absent for host checks. */
  readonly device?: string;
}

export const check = (id: string, title: string, status: CheckStatus, detail: string, fix?: string): Check =>
  fix === undefined ? { id, title, status, detail } : { id, title, status, detail, fix };

/** A check not run because an earlier one failed: the earlier one is the root cause. */
export const blocked = (id: string, title: string, by: string): Check =>
  check(id, title, 'skip', `not checked: fix "${by}" first`);

export const passed = (checks: readonly Check[]) => checks.every((c) => c.status !== 'fail');
