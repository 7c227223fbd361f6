// Tensor: a typed view of float32 memory with a logical shape [N, C, ...spatial] and a memory
// layout. On the CPU it wraps the caller's Float32Array without copying.
import { Layout } from './binding';
import { checkOneOf, checkPositiveInteger, typeError, rangeError } from './errors';

export type { Layout } from './binding';
export type Device = 'cpu';

export interface TensorOptions {
  /** How memory is ordered; the shape stays logical [N, C, ...spatial]. Default 'NCHW'. */
  layout?: Layout;
  /** Where the data lives. Only 'cpu' in this build. */
  device?: Device;
}

const LAYOUTS = ['NCHW', 'NHWC'] as const;
const DEVICES = ['cpu'] as const;

export class Tensor {
  readonly shape: readonly number[];
  readonly layout: Layout;
  readonly device: Device;
  private data: Float32Array | null;

  private constructor(data: Float32Array, shape: readonly number[], layout: Layout, device: Device) {
    this.data = data;
    this.shape = shape;
    this.layout = layout;
    this.device = device;
  }

  /** Wraps `data` (no copy): writes through the tensor are visible in `data` and back. */
  static fromArray(data: Float32Array, shape: readonly number[], options: TensorOptions = {}): Tensor {
    if (!(data instanceof Float32Array)) throw typeError('data', 'a Float32Array', data);
    if (!Array.isArray(shape)) throw typeError('shape', 'an array of positive integers', shape);
    if (shape.length === 0) throw rangeError('shape', 'expected at least one dimension');
    shape.forEach((size, i) => checkPositiveInteger(`shape[${i}]`, size));
    const layout = checkOneOf('layout', options.layout ?? 'NCHW', LAYOUTS);
    const device = checkOneOf('device', options.device ?? 'cpu', DEVICES);
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length)
      throw rangeError('data', `expected ${size} elements for shape [${shape.join(', ')}], got ${data.length}`);
    return new Tensor(data, Object.freeze([...shape]), layout, device);
  }

  /** A new zero-filled tensor. */
  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    const size = Array.isArray(shape) ? shape.reduce((a: number, b: number) => a * b, 1) : 0;
    return Tensor.fromArray(new Float32Array(Number.isInteger(size) && size > 0 ? size : 0), shape, options);
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get disposed(): boolean {
    return this.data === null;
  }

  /** The tensor's memory: on the CPU the very array it wraps. */
  toArray(): Float32Array {
    if (this.data === null) throw new Error('tensor: used after dispose()');
    return this.data;
  }

  /** Releases the tensor's hold on its memory; any later use throws. */
  dispose(): void {
    this.data = null;
  }
}
