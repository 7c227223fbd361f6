// Tensor: a logical shape [N, C, ...spatial], a memory layout, an element type and a device.
// On the CPU it wraps the caller's Float32Array without copying; on CUDA it owns (or, from
// fromDevicePointer, borrows) GPU memory.
import { DeviceBuffer, Layout, native } from './binding';
import { checkOneOf, checkPositiveInteger, rangeError, typeError } from './errors';

export type { Layout } from './binding';
export type Device = 'cpu' | 'cuda';
export type DType = 'float32' | 'float16' | 'bfloat16';

export interface TensorOptions {
  /** How memory is ordered; the shape stays logical [N, C, ...spatial]. Default 'NCHW'. */
  layout?: Layout;
  /** Where the data lives. Default 'cpu'. */
  device?: Device;
  /** Element type: 'float32' everywhere, 'float16' / 'bfloat16' on CUDA (raw bits as Uint16Array). */
  dtype?: DType;
}

const LAYOUTS = ['NCHW', 'NHWC'] as const;
const DEVICES = ['cpu', 'cuda'] as const;
const DTYPES = ['float32', 'float16', 'bfloat16'] as const;
/** This package's stream for the device (see csrc/addon/device_memory.h). */
const DEFAULT_STREAM = 0n;

function bytesPerElement(dtype: DType): number {
  return dtype === 'float32' ? 4 : 2;
}

function checkShape(shape: unknown): number {
  if (!Array.isArray(shape)) throw typeError('shape', 'an array of positive integers', shape);
  if (shape.length === 0) throw rangeError('shape', 'expected at least one dimension');
  // The element's name is built only to throw: every tensor allocation checks its shape here.
  shape.forEach((size, i) => {
    if (!(Number.isInteger(size) && size >= 1)) checkPositiveInteger(`shape[${i}]`, size);
  });
  return shape.reduce((a: number, b: number) => a * b, 1);
}

interface Placement {
  layout: Layout;
  device: Device;
  dtype: DType;
}

function checkPlacement(options: TensorOptions): Placement {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  const layout = checkOneOf('layout', options.layout ?? 'NCHW', LAYOUTS);
  const device = checkOneOf('device', options.device ?? 'cpu', DEVICES);
  const dtype = checkOneOf('dtype', options.dtype ?? 'float32', DTYPES);
  if (device === 'cpu' && dtype !== 'float32') throw rangeError('dtype', `CPU tensors are float32, got '${dtype}'`);
  if (device === 'cuda') requireCuda();
  return { layout, device, dtype };
}

/** Throws unless a GPU is usable, saying why not. */
function requireCuda(): void {
  const info = native().cudaInfo();
  if (!info.available) throw new Error(`device: 'cuda' is not available (${info.reason})`);
}

export class Tensor {
  readonly shape: readonly number[];
  readonly layout: Layout;
  readonly device: Device;
  readonly dtype: DType;
  private host: Float32Array | null;
  private buffer: DeviceBuffer | null;
  /** The product of the (frozen) shape, counted once: every op call reads the sizes of its tensors. */
  private readonly elements: number;

  private constructor(shape: readonly number[], placement: Placement, host: Float32Array | null, buffer: DeviceBuffer | null) {
    this.shape = Object.freeze([...shape]);
    let elements = 1;
    for (let i = 0; i < this.shape.length; ++i) elements *= this.shape[i];
    this.elements = elements;
    this.layout = placement.layout;
    this.device = placement.device;
    this.dtype = placement.dtype;
    this.host = host;
    this.buffer = buffer;
  }

  /**
   * CPU: wraps `data` (a Float32Array) without copying. CUDA: copies `data` to the GPU; 16-bit
   * dtypes take their raw bits as a Uint16Array.
   */
  static fromArray(data: Float32Array | Uint16Array, shape: readonly number[], options: TensorOptions = {}): Tensor {
    const size = checkShape(shape);
    const placement = checkPlacement(options);
    const expected = placement.dtype === 'float32' ? Float32Array : Uint16Array;
    if (!(data instanceof expected)) throw typeError('data', `a ${expected.name} for dtype '${placement.dtype}'`, data);
    if (size !== data.length)
      throw rangeError('data', `expected ${size} elements for shape [${shape.join(', ')}], got ${data.length}`);
    if (placement.device === 'cpu') return new Tensor(shape, placement, data as Float32Array, null);
    const buffer = native().deviceAlloc!(size * bytesPerElement(placement.dtype), 0);
    native().copyToDevice!(buffer, data, DEFAULT_STREAM);
    return new Tensor(shape, placement, null, buffer);
  }

  /** A new zero-filled tensor. */
  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    const size = checkShape(shape);
    const placement = checkPlacement(options);
    if (placement.device === 'cpu') return new Tensor(shape, placement, new Float32Array(size), null);
    const buffer = native().deviceAlloc!(size * bytesPerElement(placement.dtype), 0);
    native().zeroDevice!(buffer, DEFAULT_STREAM);
    return new Tensor(shape, placement, null, buffer);
  }

  /** Wraps GPU memory owned by another library, without copying and without taking ownership. */
  static fromDevicePointer(pointer: bigint, shape: readonly number[], options: TensorOptions & { dtype: DType; device: 'cuda' }): Tensor {
    if (typeof pointer !== 'bigint') throw typeError('pointer', 'a bigint', pointer);
    if (pointer <= 0n) throw rangeError('pointer', `expected a device address, got ${pointer}`);
    const size = checkShape(shape);
    if (options?.device !== 'cuda') throw rangeError('device', `expected 'cuda', got ${String(options?.device)}`);
    const placement = checkPlacement(options);
    const buffer = native().deviceWrap!(pointer, size * bytesPerElement(placement.dtype), 0);
    return new Tensor(shape, placement, null, buffer);
  }

  get size(): number {
    return this.elements;
  }

  get disposed(): boolean {
    return this.host === null && this.buffer === null;
  }

  /** The GPU address of a CUDA tensor's memory (to hand to another library). */
  get devicePointer(): bigint {
    return this.deviceBuffer().pointer;
  }

  /** The tensor's memory: on the CPU the very array it wraps. CPU tensors only. */
  toArray(): Float32Array {
    if (this.device !== 'cpu') throw new Error('tensor: on the GPU; use await tensor.toArrayAsync()');
    if (this.host === null) throw new Error('tensor: used after dispose()');
    return this.host;
  }

  /** The values on the host: a CPU tensor's own array, or a copy of a CUDA tensor's memory. */
  async toArrayAsync(): Promise<Float32Array | Uint16Array> {
    if (this.device === 'cpu') return this.toArray();
    const out = this.dtype === 'float32' ? new Float32Array(this.size) : new Uint16Array(this.size);
    await native().copyToHostAsync!(out, this.deviceBuffer(), DEFAULT_STREAM);
    return out;
  }

  /** Releases the tensor's memory (GPU memory it owns is freed); any later use throws. */
  dispose(): void {
    this.buffer?.free();
    this.host = null;
    this.buffer = null;
  }

  /** `using tensor = ...`: dispose() when the scope ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal A host copy of a float32 tensor's values (on CUDA this waits for the GPU). */
  readSync(): Float32Array {
    if (this.device === 'cpu') return this.toArray().slice();
    if (this.dtype !== 'float32') throw new Error(`tensor: readSync reads float32 tensors, not '${this.dtype}'`);
    const values = new Float32Array(this.size);
    native().copyToHost!(values, this.deviceBuffer(), DEFAULT_STREAM);
    return values;
  }

  /** @internal Overwrites a float32 tensor's values from the host. */
  writeSync(values: Float32Array): void {
    if (this.device === 'cpu') this.toArray().set(values);
    else native().copyToDevice!(this.deviceBuffer(), values, DEFAULT_STREAM);
  }

  /** @internal Sets every element to zero (on CUDA a memset queued on the package's stream: no host copy). */
  zero(): void {
    if (this.device === 'cpu') this.toArray().fill(0);
    else native().zeroDevice!(this.deviceBuffer(), DEFAULT_STREAM);
  }

  /** @internal The same memory under another shape of the same size (not owning it). */
  view(shape: readonly number[]): Tensor {
    const memory = this.memory();
    const placement = { layout: this.layout, device: this.device, dtype: this.dtype };
    if (memory instanceof Float32Array) return new Tensor(shape, placement, memory, null);
    return new Tensor(shape, placement, null, native().deviceWrap!(memory.pointer, memory.bytes, memory.device));
  }

  /** @internal The memory the addon reads and writes. */
  memory(): Float32Array | DeviceBuffer {
    if (this.disposed) throw new Error('tensor: used after dispose()');
    return this.host ?? this.buffer!;
  }

  private deviceBuffer(): DeviceBuffer {
    if (this.device !== 'cuda') throw new Error('tensor: not on the GPU');
    if (this.buffer === null) throw new Error('tensor: used after dispose()');
    return this.buffer;
  }
}

/** Whether a GPU is usable, and why not when it is not. */
export function cudaInfo() {
  return native().cudaInfo();
}
