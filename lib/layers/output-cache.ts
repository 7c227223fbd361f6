// Output tensors that a layer reuses from step to step, so a training loop allocates no tensors.
import { Tensor, TensorOptions } from '../tensor';

export class OutputCache {
  private readonly tensors = new Map<string, Tensor>();

  /** The tensor last handed out under `name`, or a new one when its shape or placement changed. */
  get(name: string, like: Tensor): Tensor {
    const cached = this.tensors.get(name);
    if (cached && !cached.disposed && samePlacement(cached, like) && sameShape(cached.shape, like.shape)) return cached;
    const options: TensorOptions = { layout: like.layout, device: like.device, dtype: like.dtype };
    const tensor = Tensor.zeros(like.shape, options);
    this.tensors.set(name, tensor);
    return tensor;
  }
}

function samePlacement(a: Tensor, b: Tensor): boolean {
  return a.layout === b.layout && a.device === b.device && a.dtype === b.dtype;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}
