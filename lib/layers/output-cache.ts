// Output tensors that a layer reuses from step to step, so a training loop allocates no tensors.
import { Device, Tensor, TensorOptions } from '../tensor';

export class OutputCache {
  private readonly tensors = new Map<string, Tensor>();

  /** The tensor last handed out under `name`, or a new one when its shape or placement changed. */
  get(name: string, like: Tensor): Tensor {
    return this.reuse(name, like.shape, { layout: like.layout, device: like.device, dtype: like.dtype });
  }

  /** The same for a float32 tensor of `shape` on `device` (per-unit statistics, their gradients). */
  vector(name: string, shape: readonly number[], device: Device): Tensor {
    return this.reuse(name, shape, { layout: 'NCHW', device, dtype: 'float32' });
  }

  /** Disposes every tensor it handed out. */
  dispose(): void {
    for (const tensor of this.tensors.values()) tensor.dispose();
    this.tensors.clear();
  }

  private reuse(name: string, shape: readonly number[], options: Required<TensorOptions>): Tensor {
    const cached = this.tensors.get(name);
    if (cached && !cached.disposed && samePlacement(cached, options) && sameShape(cached.shape, shape)) return cached;
    const tensor = Tensor.zeros(shape, options);
    this.tensors.set(name, tensor);
    return tensor;
  }
}

function samePlacement(a: Tensor, b: Required<TensorOptions>): boolean {
  return a.layout === b.layout && a.device === b.device && a.dtype === b.dtype;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}
