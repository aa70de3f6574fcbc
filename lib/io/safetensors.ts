// safetensors checkpoints: load and save through the engine (native/io/safetensors.h),
// which validates every offset, dtype and shape and writes atomically (temp file,
// fsync, rename). Entries keep the file's order.
import { native } from '../native';

export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'I64';
export type SafetensorsData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array. */
  data: SafetensorsData;
}

export interface SafetensorsFile {
  /** name -> entry, in the file's header order. */
  tensors: Map<string, SafetensorsEntry>;
  /** The header's __metadata__ (string -> string), or null when the file has none. */
  metadata: Record<string, string> | null;
}

interface NativeEntry extends SafetensorsEntry {
  name: string;
}
interface NativeFile {
  tensors: NativeEntry[];
  metadata: [string, string][] | null;
}
interface NativeIo {
  safetensorsRead(path: string): NativeFile;
  safetensorsReadAsync(path: string): Promise<NativeFile>;
  safetensorsWrite(path: string, tensors: NativeEntry[], metadata?: [string, string][] | null): void;
  safetensorsWriteAsync(path: string, tensors: NativeEntry[], metadata?: [string, string][] | null): Promise<void>;
}

function io(): NativeIo {
  return native().ops as unknown as NativeIo;
}

function fromNative(f: NativeFile): SafetensorsFile {
  const tensors = new Map<string, SafetensorsEntry>();
  for (const { name, dtype, shape, data } of f.tensors) tensors.set(name, { dtype, shape, data });
  // fromEntries defines own properties, so a key such as "__proto__" stays a plain key.
  return { tensors, metadata: f.metadata ? Object.fromEntries(f.metadata) : null };
}

export function dtypeOf(data: SafetensorsData): SafetensorsDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  throw new TypeError('safetensors: data must be a Float32Array, Float64Array, Int32Array or BigInt64Array');
}

export type SafetensorsInput =
  | Map<string, { shape: number[]; data: SafetensorsData; dtype?: SafetensorsDtype }>
  | Iterable<[string, { shape: number[]; data: SafetensorsData; dtype?: SafetensorsDtype }]>;

function toNative(tensors: SafetensorsInput): NativeEntry[] {
  const out: NativeEntry[] = [];
  for (const [name, e] of tensors) out.push({ name, shape: e.shape, data: e.data, dtype: e.dtype ?? dtypeOf(e.data) });
  return out;
}

function metadataPairs(m?: Record<string, string> | null): [string, string][] | null {
  return m ? Object.entries(m) : null;
}

export function loadSafetensors(path: string): SafetensorsFile {
  return fromNative(io().safetensorsRead(path));
}

export async function loadSafetensorsAsync(path: string): Promise<SafetensorsFile> {
  return fromNative(await io().safetensorsReadAsync(path));
}

/** Writes `tensors` in iteration order; the file appears under `path` only once complete. */
export function saveSafetensors(path: string, tensors: SafetensorsInput, metadata?: Record<string, string> | null): void {
  io().safetensorsWrite(path, toNative(tensors), metadataPairs(metadata));
}

export async function saveSafetensorsAsync(
  path: string,
  tensors: SafetensorsInput,
  metadata?: Record<string, string> | null
): Promise<void> {
  await io().safetensorsWriteAsync(path, toNative(tensors), metadataPairs(metadata));
}
