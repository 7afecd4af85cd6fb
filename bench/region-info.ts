// VFIO_DEVICE_GET_REGION_INFO with capabilities, Node against C in the same process (inside
// `vfio-vm run`). nvme's BAR0 carries an MSIX_MAPPABLE cap, so both sides ask twice (base size,
// then the argsz the kernel wants) and walk the chain. Node takes the path Device takes: one
// native call for both asks, into the device's reusable buffer. Two figures:
//   query + walk     the same work as the C loop (the chain walked, every header checked)
//   + decode         what Device does: also decodes into typed objects (bigints, cap objects),
//                    work the C loop does not do at all
import { Device } from '../lib';
import { decodeRegionInfo } from '../lib/decode';
import { requestedArgsz, walkCapChain } from '../lib/decode/caps';
import { u32 } from '../lib/decode/bytes';
import { InfoBuffer } from '../lib/addon/info-buffer';
import { native } from '../lib/addon/native';
import { loadBaseline, median, ratioLine } from './util';

const ROUNDS = 15;
const WARMUP_ROUNDS = 3; // the first rounds run before TurboFan has compiled the decoders
const N = 2000;

async function main(): Promise<void> {
  const bdf = process.env.VFIO_VM_NVME;
  if (!bdf) throw new Error('needs VFIO_VM_NVME (run inside `vfio-vm run`)');
  const c = loadBaseline();
  const dev = await Device.open(bdf);
  const fd = dev.fd('bench');
  const scratch = new InfoBuffer();
  let kept: unknown;
  const timed = (decode: (buf: Uint8Array) => unknown) => () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const r = scratch.query((b) => native().VFIO_DEVICE_GET_REGION_INFO(fd, 0, b));
      if (typeof r === 'number') throw new Error(`GET_REGION_INFO: ${r}`);
      kept = decode(r);
    }
    return Number(process.hrtime.bigint() - t0);
  };
  const walk = timed((b) => walkCapChain(b, u32(b, 12), 32, Math.min(b.length, requestedArgsz(b)), 'bench'));
  const full = timed(decodeRegionInfo);
  const ratios = { walk: [] as number[], full: [] as number[] };
  const cPerCall: number[] = [];
  for (let k = 0; k < WARMUP_ROUNDS + ROUNDS; k++) {
    const cNs = c.region_info_loop(fd, 0, N);
    const w = walk() / cNs;
    const f = full() / cNs;
    if (k >= WARMUP_ROUNDS) {
      ratios.walk.push(w);
      ratios.full.push(f);
      cPerCall.push(cNs / N / 1000);
    }
  }
  if (kept === undefined) throw new Error('nothing decoded');
  console.log(
    `GET_REGION_INFO (nvme BAR0, with caps), ${N} calls x ${ROUNDS} rounds, median Node/C (C ${median(cPerCall).toFixed(1)} us per call):`,
  );
  console.log(ratioLine('  query + walk (as C)', median(ratios.walk)));
  console.log(ratioLine('  + decode to objects', median(ratios.full)));
  dev.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
