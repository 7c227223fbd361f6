// Output tensors that a layer reuses from step to step, so a training loop allocates no tensors.
import { Layout, Tensor } from '../tensor';

export class OutputCache {
  private readonly tensors = new Map<string, Tensor>();

  /** The tensor last handed out under `name`, or a new one when the shape or layout changed. */
  get(name: string, shape: readonly number[], layout: Layout = 'NCHW'): Tensor {
    const cached = this.tensors.get(name);
    if (cached && !cached.disposed && cached.layout === layout && sameShape(cached.shape, shape)) return cached;
    const tensor = Tensor.zeros(shape, { layout });
    this.tensors.set(name, tensor);
    return tensor;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}
