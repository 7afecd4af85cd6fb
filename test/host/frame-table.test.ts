// The framed calls' slot table (lib/addon/frame-table.ts) against the C functions that read the
// frame (native/*.cc): the same functions, each reading the same slots, in the same order, with
// the reader the table names. Pure text: needs no device and no build.
import * as fs from 'fs';
import * as path from 'path';
import { FRAMED_CALLS, FramedCall, slotLayout } from '../../lib/addon/frame-table';
import { must } from '../support/must';

const nativeDir = path.resolve(__dirname, '../../native');
const sources = fs
  .readdirSync(nativeDir)
  .filter((f) => f.endsWith('.cc'))
  .map((f) => fs.readFileSync(path.join(nativeDir, f), 'utf8'));
const all = sources.join('\n');

/** JS name -> C function of every framed export: `out.fn("NAME", fn)` where fn reads the frame. */
function exportedFramed(): Map<string, string> {
  const exported = [...all.matchAll(/out\.fn(?:<\w+>)?\("(\w+)",\s*(\w+)\)/g)].map((m): [string, string] => [
    m[1],
    m[2],
  ]);
  return new Map(
    exported.filter(([, fn]) =>
      new RegExp(`napi_value ${fn}\\(napi_env env, napi_callback_info info\\) \\{[^}]*kFromFrame`).test(all),
    ),
  );
}

/** The slots a C framed function reads, in order: [slot, reader]; dma_buffer_of(a, i) reads an id. */
function readsOf(fn: string): { slots: [number, string][]; objects: number } {
  const m = new RegExp(`napi_value ${fn}\\(napi_env env, napi_callback_info info\\) \\{([\\s\\S]*?)\\n\\}`).exec(all);
  if (!m) throw new Error(`no definition of ${fn} in native/*.cc`);
  const body = m[1];
  const ctor = /Args a\(env, info, kFromFrame, (\d+)\)/.exec(body);
  if (!ctor) throw new Error(`${fn} does not read the frame (Args with kFromFrame)`);
  const slots = [...body.matchAll(/\ba\.(fd|u32|u64|id)\((\d+)\)|\bdma_buffer_of\(a, (\d+)\)/g)].map(
    (r): [number, string] => (r[3] !== undefined ? [Number(r[3]), 'id'] : [Number(r[2]), r[1]]),
  );
  return { slots, objects: Number(ctor[1]) };
}

describe('framed call table', () => {
  it('names exactly the functions the addon exports as framed', () => {
    expect([...exportedFramed().keys()].sort()).toEqual(Object.keys(FRAMED_CALLS).sort());
  });

  it.each(Object.entries(FRAMED_CALLS))('%s: the C function reads the slots the table lists', (name, entry) => {
    const call: FramedCall = entry;
    const fn = must(exportedFramed().get(name), 'exportedFramed().get(name)');
    const reads = readsOf(fn);
    expect(reads.slots).toEqual(call.slots.map(([, kind], i) => [i, kind]));
    expect(reads.objects).toBe(call.objects);
  });

  it('fits the frame: no call takes more slots than native/frame.h has for arguments', () => {
    const header = fs.readFileSync(path.join(nativeDir, 'frame.h'), 'utf8');
    const kArgs = Number(must(/kArgs = (\d+);/.exec(header), 'kArgs in the frame header')[1]);
    for (const call of Object.values(FRAMED_CALLS)) expect(call.slots.length).toBeLessThanOrEqual(kArgs);
  });

  it('gives frame.ts a letter per slot: n for numbers, a for addresses and lengths', () => {
    expect(slotLayout('VFIO_IOMMU_MAP_DMA')).toBe('nnaaan');
    expect(slotLayout('IOMMU_IOAS_UNMAP')).toBe('nnaa');
  });
});
