import { InvalidArgumentError } from '../../lib/errors';
import * as abi from '../../lib/abi';
import {
  DecodeError,
  decodeMigDataSize,
  decodeMigState,
  decodeMigrationFeature,
  dirtyPageCount,
  dirtyRanges,
  dmaBufRanges,
  dmaLoggingBitmapSize,
  dmaLoggingRanges,
  encodeBusMaster,
  encodeLowPowerWakeup,
  encodeMigState,
  encodeVfToken,
  formatUuid,
  u32,
} from '../../lib/decode';
import { Bytes } from '../fixtures/build';

describe('migration payloads', () => {
  it('MIGRATION flags list the states they enable', () => {
    const m = decodeMigrationFeature(
      new Bytes().u64(BigInt(abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_P2P)).done(),
    );
    expect(m).toMatchObject({ stopCopy: true, p2p: true, preCopy: false });
    expect(m.states).toEqual(['RUNNING', 'ERROR', 'STOP', 'STOP_COPY', 'RESUMING', 'RUNNING_P2P']);
    const all = decodeMigrationFeature(new Bytes().u64(7n).done());
    expect(all.states).toContain('PRE_COPY_P2P');
    expect(decodeMigrationFeature(new Bytes().u64(0n).done()).states).toEqual(['RUNNING', 'ERROR']);
  });

  it('MIG_DEVICE_STATE round-trips, by name or value', () => {
    const set = encodeMigState('STOP_COPY');
    expect(set.length).toBe(8);
    expect(decodeMigState(set)).toEqual({ state: 3, stateName: 'STOP_COPY', dataFd: -1 });
    expect(decodeMigState(encodeMigState('VFIO_DEVICE_STATE_RESUMING')).state).toBe(abi.VFIO_DEVICE_STATE_RESUMING);
    expect(decodeMigState(new Bytes().u32(2).u32(17).done())).toEqual({ state: 2, stateName: 'RUNNING', dataFd: 17 });
    expect(() => encodeMigState('FLYING')).toThrow(InvalidArgumentError);
    expect(() => encodeMigState(-1)).toThrow(InvalidArgumentError);
  });

  it('MIG_DATA_SIZE and short payloads', () => {
    expect(decodeMigDataSize(new Bytes().u64(1n << 33n).done()).stopCopyLength).toBe(1n << 33n);
    expect(() => decodeMigState(new Uint8Array(4))).toThrow(DecodeError);
  });
});

describe('small SET payloads', () => {
  it('PCI_VF_TOKEN: UUID text to 16 bytes in text order, and back', () => {
    const uuid = '2ab74924-c335-45f4-9b16-8569e5b08258';
    const b = encodeVfToken(uuid);
    expect(b.length).toBe(16);
    expect(b[0]).toBe(0x2a);
    expect(b[15]).toBe(0x58);
    expect(formatUuid(b)).toBe(uuid);
    expect(formatUuid(encodeVfToken(uuid.toUpperCase()))).toBe(uuid);
    for (const bad of ['', 'not-a-uuid', '2ab74924c33545f49b168569e5b08258', '2ab74924-c335-45f4-9b16-8569e5b0825g']) {
      expect(() => encodeVfToken(bad)).toThrow(InvalidArgumentError);
    }
  });

  it('LOW_POWER_ENTRY_WITH_WAKEUP: eventfd then a zero reserved word', () => {
    const b = encodeLowPowerWakeup(42);
    expect(b.length).toBe(8);
    expect(u32(b, 0)).toBe(42);
    expect(u32(b, 4)).toBe(0);
    expect(() => encodeLowPowerWakeup(-1)).toThrow(InvalidArgumentError);
    expect(() => encodeLowPowerWakeup(1.5)).toThrow(InvalidArgumentError);
  });

  it('BUS_MASTER op', () => {
    expect(u32(encodeBusMaster(true), 0)).toBe(abi.VFIO_DEVICE_FEATURE_SET_MASTER);
    expect(u32(encodeBusMaster(false), 0)).toBe(abi.VFIO_DEVICE_FEATURE_CLEAR_MASTER);
  });
});

describe('DMA logging', () => {
  it('flattens aligned ranges to [iova, len, …]', () => {
    const r = dmaLoggingRanges([
      { start: 0x100000n, length: 0x10000n },
      { start: 0n, length: 0x1000n },
    ]);
    expect(Array.from(r)).toEqual([0x100000n, 0x10000n, 0n, 0x1000n]);
  });

  it('rejects empty, unaligned, overlapping ranges and bad page sizes', () => {
    expect(() => dmaLoggingRanges([])).toThrow(InvalidArgumentError);
    expect(() => dmaLoggingRanges([{ start: 0x800n, length: 0x1000n }])).toThrow(/aligned/);
    expect(() => dmaLoggingRanges([{ start: 0n, length: 0n }])).toThrow(/empty/);
    expect(() =>
      dmaLoggingRanges([
        { start: 0n, length: 0x2000n },
        { start: 0x1000n, length: 0x1000n },
      ]),
    ).toThrow(/overlap/);
    expect(() => dmaLoggingRanges([{ start: 0n, length: 0x3000n }], 0x3000n)).toThrow(/power of two/);
    expect(() => dmaLoggingRanges([{ start: 0n, length: 0x1000n }], 0x800n)).toThrow(/power of two/);
    expect(() => dmaLoggingRanges([{ start: 0xfffffffffffff000n, length: 0x2000n }])).toThrow(/wraps/);
  });

  it('bitmap size: one bit per page in whole u64 words', () => {
    expect(dmaLoggingBitmapSize(0x1000n)).toBe(8);
    expect(dmaLoggingBitmapSize(64n * 0x1000n)).toBe(8);
    expect(dmaLoggingBitmapSize(65n * 0x1000n)).toBe(16);
    expect(dmaLoggingBitmapSize(1n << 30n, 0x200000n)).toBe(64); // 512 pages
    expect(() => dmaLoggingBitmapSize(0n)).toThrow(InvalidArgumentError);
  });

  it('reads dirty ranges from the bitmap, merging neighbours across word boundaries', () => {
    const bitmap = new Uint8Array(16);
    bitmap[0] = 0b00000101; // pages 0 and 2
    bitmap[7] = 0x80; // page 63
    bitmap[8] = 0x01; // page 64
    const iova = 0x10000000n;
    expect(dirtyRanges(bitmap, iova, 100n * 0x1000n)).toEqual([
      { start: iova, length: 0x1000n },
      { start: iova + 0x2000n, length: 0x1000n },
      { start: iova + 63n * 0x1000n, length: 0x2000n },
    ]);
    expect(dirtyPageCount(bitmap, 100)).toBe(4);
    expect(() => dirtyRanges(new Uint8Array(8), iova, 100n * 0x1000n)).toThrow(/bitmap/);
  });

  it('a dirty last page is reported', () => {
    const bitmap = new Uint8Array(8);
    bitmap[0] = 0x08;
    expect(dirtyRanges(bitmap, 0n, 4n * 0x1000n)).toEqual([{ start: 0x3000n, length: 0x1000n }]);
  });
});

describe('DMA_BUF ranges', () => {
  it('flattens page-aligned slices of a region', () => {
    const r = dmaBufRanges(
      [
        { start: 0n, length: 0x200000n },
        { start: 0x300000n, length: 0x100000n },
      ],
      { regionSize: 0x400000n },
    );
    expect(Array.from(r)).toEqual([0n, 0x200000n, 0x300000n, 0x100000n]);
  });

  it('rejects unaligned, empty, out-of-region ranges', () => {
    expect(() => dmaBufRanges([])).toThrow(InvalidArgumentError);
    expect(() => dmaBufRanges([{ start: 0x10n, length: 0x1000n }])).toThrow(/aligned/);
    expect(() => dmaBufRanges([{ start: 0n, length: 0x1001n }])).toThrow(/aligned/);
    expect(() => dmaBufRanges([{ start: 0x3ff000n, length: 0x2000n }], { regionSize: 0x400000n })).toThrow(
      /past the region/,
    );
    expect(() => dmaBufRanges([{ start: 0n, length: 0x10000n }], { pageSize: 0x10000n })).not.toThrow();
    expect(() => dmaBufRanges([{ start: 0x1000n, length: 0x1000n }], { pageSize: 0x10000n })).toThrow(/aligned/);
  });
});
