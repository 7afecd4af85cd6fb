// The controller's register sequences: disable (CC.EN = 0, wait for CSTS.RDY = 0), enable on
// the admin queues (AQA, ASQ, ACQ, CC.EN = 1, wait for CSTS.RDY = 1), and normal shutdown
// (CC.SHN, wait for CSTS.SHST), each bounded by CAP.TO.
import { Mapping, VfioError } from '../index';
import { NvmeQueue } from './queue';
import {
  CC_SHN_MASK,
  CC_SHN_NORMAL,
  CSTS_CFS,
  CSTS_RDY,
  CSTS_SHST_COMPLETE,
  CSTS_SHST_MASK,
  NvmeCap,
  REG_ACQ,
  REG_AQA,
  REG_ASQ,
  REG_CC,
  REG_CSTS,
  ccEnable,
} from './registers';

export async function disableController(bar: Mapping, cap: NvmeCap): Promise<void> {
  const cc = bar.read32(REG_CC);
  if ((cc & 1) !== 0) bar.write32(REG_CC, cc & ~1);
  await bar.waitFor(REG_CSTS, CSTS_RDY, 0, {
    timeoutMs: cap.timeoutMs,
    what: 'CSTS.RDY = 0 after CC.EN = 0 (CAP.TO)',
  });
}

/** Points a disabled controller at the admin queue pair and enables it. */
export async function enableController(
  bar: Mapping,
  cap: NvmeCap,
  admin: NvmeQueue,
  pageSize: number,
  label: string,
): Promise<void> {
  const depth = admin.depth;
  bar.write32(REG_AQA, ((depth - 1) << 16) | (depth - 1));
  bar.write64n(REG_ASQ, admin.sq.iova);
  bar.write64n(REG_ACQ, admin.cq.iova);
  bar.write32(REG_CC, ccEnable(pageSize));
  try {
    await bar.waitFor(REG_CSTS, CSTS_RDY, CSTS_RDY, {
      timeoutMs: cap.timeoutMs,
      what: 'CSTS.RDY = 1 after CC.EN = 1 (CAP.TO)',
    });
  } catch (e) {
    const csts = bar.read32(REG_CSTS);
    if (csts & CSTS_CFS)
      throw new VfioError({
        code: 'EIO',
        op: 'NvmeController.enable',
        device: label,
        message: `NvmeController.enable: controller fatal status (CSTS 0x${csts.toString(16)})`,
        cause: e,
      });
    throw e;
  }
}

export async function shutdownController(bar: Mapping, cap: NvmeCap): Promise<void> {
  const cc = bar.read32(REG_CC);
  bar.write32(REG_CC, (cc & ~CC_SHN_MASK) | CC_SHN_NORMAL);
  await bar.waitFor(REG_CSTS, CSTS_SHST_MASK, CSTS_SHST_COMPLETE, {
    timeoutMs: cap.timeoutMs,
    what: 'CSTS.SHST = shutdown complete',
  });
}
