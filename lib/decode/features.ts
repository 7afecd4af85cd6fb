// Payloads of VFIO_DEVICE_FEATURE (the bytes after struct vfio_device_feature's flags word).
// Decoders read what GET returns; encoders build what SET takes. Encoders reject bad arguments
// with RangeError/TypeError before the kernel sees them, naming what is wrong.
import {
  SIZEOF,
  VFIO_DEVICE_FEATURE_CLEAR_MASTER,
  VFIO_DEVICE_FEATURE_SET_MASTER,
  VFIO_MIGRATION_P2P,
  VFIO_MIGRATION_PRE_COPY,
  VFIO_MIGRATION_STOP_COPY,
  migStateName,
  migStateValue,
} from '../abi';
import { i32, putU32, u32, u64 } from './bytes';
import { DecodeError } from './errors';
import { rangeArgError, kindArgError } from '../errors/args';

// --- MIGRATION (1): struct vfio_device_feature_migration { u64 flags; } ---

/** Bytes of the MIGRATION payload (struct vfio_device_feature_migration): 8. */
export const MIGRATION_FEATURE_SIZE = SIZEOF.vfio_device_feature_migration;

/** The MIGRATION feature's payload, decoded. */
export interface MigrationFeature {
  /** VFIO_MIGRATION_* bits as the kernel set them. */
  readonly flags: number;
  /** STOP_COPY: the device can be stopped and its state copied out (the base migration protocol). */
  readonly stopCopy: boolean;
  /** P2P: the RUNNING_P2P state (quiesced for peer-to-peer DMA) is supported. */
  readonly p2p: boolean;
  /** PRE_COPY: state can be copied while the device runs. */
  readonly preCopy: boolean;
  /** The states MIG_DEVICE_STATE accepts with these flags (names from migStateName). */
  readonly states: readonly string[];
}

/** Which states a flag combination enables, as the uAPI header documents it. */
function migrationStates(stopCopy: boolean, p2p: boolean, preCopy: boolean): string[] {
  const states = ['RUNNING', 'ERROR'];
  if (!stopCopy) return states;
  states.push('STOP', 'STOP_COPY', 'RESUMING');
  if (p2p) states.push('RUNNING_P2P');
  if (preCopy) states.push('PRE_COPY');
  if (p2p && preCopy) states.push('PRE_COPY_P2P');
  return states;
}

/** Decodes the MIGRATION GET payload (8 bytes); {@link DecodeError} when it is shorter. */
export function decodeMigrationFeature(bytes: Uint8Array): MigrationFeature {
  const op = 'vfio_device_feature_migration';
  // A u64 on the wire; only bits 0-2 are defined, so a number holds any value a kernel will send.
  const flags = Number(u64(bytes, 0, op));
  const stopCopy = (flags & VFIO_MIGRATION_STOP_COPY) !== 0;
  const p2p = (flags & VFIO_MIGRATION_P2P) !== 0;
  const preCopy = (flags & VFIO_MIGRATION_PRE_COPY) !== 0;
  return { flags, stopCopy, p2p, preCopy, states: migrationStates(stopCopy, p2p, preCopy) };
}

// --- MIG_DEVICE_STATE (2): struct vfio_device_feature_mig_state { u32 device_state; s32 data_fd; } ---

/** Bytes of the MIG_DEVICE_STATE payload (struct vfio_device_feature_mig_state): 8. */
export const MIG_STATE_SIZE = SIZEOF.vfio_device_feature_mig_state;

/** The MIG_DEVICE_STATE payload, decoded. */
export interface MigState {
  /** enum vfio_device_mig_state value. */
  readonly state: number;
  /** Its name ('RUNNING', 'STOP_COPY', …; `state<N>` for values the header does not define). */
  readonly stateName: string;
  /** A new migration data fd after a SET that starts a transfer; -1 otherwise. */
  readonly dataFd: number;
}

/** Decodes a MIG_DEVICE_STATE payload (8 bytes); {@link DecodeError} when it is shorter. */
export function decodeMigState(bytes: Uint8Array): MigState {
  const op = 'vfio_device_feature_mig_state';
  const state = u32(bytes, 0, op);
  return { state, stateName: migStateName(state), dataFd: i32(bytes, 4, op) };
}

/** SET payload for a state given by value or name ('STOP_COPY' or 'VFIO_DEVICE_STATE_STOP_COPY'). */
export function encodeMigState(state: number | string): Uint8Array {
  const value = typeof state === 'string' ? migStateValue(state) : state;
  if (value === undefined || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw rangeArgError('feature data', `unknown migration state ${String(state)}`);
  }
  const out = new Uint8Array(MIG_STATE_SIZE);
  putU32(out, 0, value);
  putU32(out, 4, -1); // data_fd is an output; -1 marks "none" as the kernel does
  return out;
}

// --- MIG_DATA_SIZE (9): struct vfio_device_feature_mig_data_size { u64 stop_copy_length; } ---

/** Decodes a MIG_DATA_SIZE payload (8 bytes); {@link DecodeError} when it is shorter. */
export function decodeMigDataSize(bytes: Uint8Array): {
  /** Bytes the device expects to hand over in STOP_COPY. */
  readonly stopCopyLength: bigint;
} {
  return { stopCopyLength: u64(bytes, 0, 'vfio_device_feature_mig_data_size') };
}

// --- PCI_VF_TOKEN (0): a 16-byte UUID, in the byte order of its text form ---

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The PCI_VF_TOKEN SET payload: the UUID's 16 bytes; {@link InvalidArgumentError} when `uuid` is not a UUID.
 */
export function encodeVfToken(uuid: string): Uint8Array {
  if (!UUID_RE.test(uuid))
    throw kindArgError('feature data', `'${uuid}' is not a UUID like 01234567-89ab-cdef-0123-456789abcdef`);
  const hex = uuid.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A 16-byte UUID in its text form (lower case); {@link DecodeError} for another length. */
export function formatUuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new DecodeError('uuid', 0, `a UUID is 16 bytes, got ${bytes.length}`);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// --- LOW_POWER_ENTRY_WITH_WAKEUP (4): { s32 wakeup_eventfd; u32 reserved; } ---

/**
 * The LOW_POWER_ENTRY_WITH_WAKEUP SET payload for an eventfd (0..2^31-1); {@link InvalidArgumentError} otherwise.
 */
export function encodeLowPowerWakeup(eventfd: number): Uint8Array {
  if (!Number.isInteger(eventfd) || eventfd < 0 || eventfd > 0x7fffffff) {
    throw rangeArgError('feature data', `wakeup eventfd must be an open file descriptor, got ${eventfd}`);
  }
  const out = new Uint8Array(8);
  putU32(out, 0, eventfd);
  return out;
}

// --- BUS_MASTER (10, CDX devices only): { u32 op; } ---

/** The BUS_MASTER SET payload: SET_MASTER or CLEAR_MASTER. */
export function encodeBusMaster(enable: boolean): Uint8Array {
  const out = new Uint8Array(4);
  putU32(out, 0, enable ? VFIO_DEVICE_FEATURE_SET_MASTER : VFIO_DEVICE_FEATURE_CLEAR_MASTER);
  return out;
}
