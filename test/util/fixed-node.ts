// A statistics-graph source for node tests: fixed rows, and a record of the gradient it receives.
import { MomentNode, Tensor } from '../../lib';

export class FixedNode extends MomentNode {
  received: { dMean: Tensor | null; dVar: Tensor | null } | null = null;
  constructor(readonly rows: { mean: Tensor; var: Tensor }) {
    super();
  }
  version(): string {
    return 'fixed';
  }
  protected compute() {
    return this.rows;
  }
  backward(gradient: { dMean: Tensor | null; dVar: Tensor | null }): void {
    this.received = gradient;
  }
}
