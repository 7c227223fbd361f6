// The device one op call runs on (x's device), and how memory is made and moved there. On the
// CPU everything is a Float32Array; on CUDA, float32 vectors given as Float32Array are uploaded
// and every buffer is device memory, so a call never waits for the GPU.
import { DTYPE_CODE, DeviceBuffer, Memory, NativePlacement, native } from '../binding';
import { rangeError, typeError } from '../errors';
import { Device, DType, Tensor } from '../tensor';

export class CallDevice {
  readonly device: Device;
  readonly dtype: DType;
  readonly stream: bigint;

  constructor(x: Tensor, stream: unknown) {
    this.device = x.device;
    this.dtype = x.dtype;
    if (stream !== undefined && typeof stream !== 'bigint') throw typeError('stream', 'a bigint (a cudaStream_t)', stream);
    if (stream !== undefined && x.device !== 'cuda') throw rangeError('stream', 'applies to CUDA tensors only');
    this.stream = stream ?? 0n;
  }

  get onGpu(): boolean {
    return this.device === 'cuda';
  }

  /** The placement fields of a native call. */
  placement(): NativePlacement {
    return this.onGpu
      ? { device: 1, dtype: DTYPE_CODE[this.dtype], deviceIndex: 0, stream: this.stream }
      : { device: 0, dtype: DTYPE_CODE.float32 };
  }

  /** `data` where the call can read it: the array itself, or a device copy. */
  upload(data: Float32Array): Memory {
    if (!this.onGpu) return data;
    const buffer = this.floats(data.length) as DeviceBuffer;
    native().copyToDevice!(buffer, data, this.stream);
    return buffer;
  }

  /** Uninitialized float32 memory for `length` values. */
  floats(length: number): Memory {
    return this.onGpu ? native().deviceAlloc!(Math.max(length, 1) * 4, 0) : new Float32Array(length);
  }

  /** A zero-filled float32 tensor of `shape` on this device. */
  zeros(shape: readonly number[]): Tensor {
    return Tensor.zeros(shape, { device: this.device });
  }

  /** A zero-filled tensor shaped, laid out and typed like `x`. */
  like(x: Tensor): Tensor {
    return Tensor.zeros(x.shape, { layout: x.layout, device: x.device, dtype: x.dtype });
  }

  /** One int that a forward sets to whether its guard fired: an Int32Array, or device memory. */
  flag(): Int32Array | DeviceBuffer {
    return this.onGpu ? native().deviceAlloc!(4, 0) : new Int32Array(1);
  }
}

/**
 * Sets target[key] to the single value of `tensor` as a number: at once on the CPU, and on CUDA
 * as a getter that waits for the GPU only when read.
 */
export function setScalar<T extends object>(target: T, key: keyof T & string, tensor: Tensor, device: CallDevice): void {
  if (!device.onGpu) {
    (target as Record<string, unknown>)[key] = tensor.toArray()[0];
    return;
  }
  Object.defineProperty(target, key, {
    enumerable: true,
    get: () => {
      const value = new Float32Array(1);
      native().copyToHost!(value, tensor.memory() as DeviceBuffer, device.stream);
      return value[0];
    },
  });
}

/** Reads an int flag (on CUDA this waits for the GPU). */
export function readFlag(flag: Int32Array | DeviceBuffer, stream: bigint): boolean {
  if (flag instanceof Int32Array) return flag[0] !== 0;
  const value = new Int32Array(1);
  native().copyToHost!(value, flag, stream);
  return value[0] !== 0;
}
