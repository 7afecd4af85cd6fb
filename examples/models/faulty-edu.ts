// The edu model (./edu.ts) wrapped in vfio/user's fault injector: edu as it is until told
// otherwise, then late completions, lost or spurious interrupts, failed, dropped or corrupted
// DMA, registers that read all-ones (a device that fell off the bus) or fail, stalled accesses.
// A driver switches the faults through BAR2 (FAULT_REGS in lib/user/faults.ts); a host program
// through `control`. docs/device-models.md lists the registers.
//
//   npx vfio-vm run --model dist/examples/models/faulty-edu.js -- CMD
//
// In your own project, import from 'vfio/user' instead of '../../lib/user'.
import { withFaults } from '../../lib/user';
import { eduModel } from './edu';

const faulty = withFaults(eduModel(), { controlBar: 2 });

/** The host's handle on the faults (the guest's is BAR2). */
export const control = faulty.control;
export default faulty.model;
