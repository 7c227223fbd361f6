// The benchmark's shapes: ResNet-50's normalization layers (channels at their spatial sizes) at
// several batch sizes, and GroupNorm-typical shapes (32 groups).

export interface BenchShape {
  op: 'kn' | 'gkn';
  n: number;
  c: number;
  hw: number; // height = width
  groups?: number;
}

// ResNet-50's normalization layers: channels at their spatial sizes.
const RESNET50 = [
  [64, 112],
  [64, 56],
  [256, 56],
  [128, 28],
  [512, 28],
  [256, 14],
  [1024, 14],
  [512, 7],
  [2048, 7],
] as const;
const QUICK_RESNET50 = [
  [64, 56],
  [256, 14],
  [2048, 7],
] as const;

function family(batches: number[], layers: readonly (readonly [number, number])[]): BenchShape[] {
  return batches.flatMap((n) => layers.map(([c, hw]) => ({ op: 'kn' as const, n, c, hw })));
}

function groupNormShapes(batches: number[], layers: readonly (readonly [number, number])[]): BenchShape[] {
  return batches.flatMap((n) => layers.map(([c, hw]) => ({ op: 'gkn' as const, n, c, hw, groups: 32 })));
}

/** GPU: batches 2 to 128; CPU: the same families scaled to fit two cores (batches up to 32). */
export function benchShapes(device: 'cpu' | 'cuda', quick: boolean): BenchShape[] {
  const layers = quick ? QUICK_RESNET50 : RESNET50;
  const batches = device === 'cuda' ? (quick ? [4, 32] : [2, 4, 32, 128]) : quick ? [2, 32] : [2, 4, 32];
  return [...family(batches, layers), ...groupNormShapes(quick ? [2] : [2, 4], layers)];
}

/** The micro-batch shapes only (batch 2, and 4 without --quick), for the emulator's GPU model. */
export function microBatchShapes(quick: boolean): BenchShape[] {
  const layers = quick ? QUICK_RESNET50 : RESNET50;
  return [...family(quick ? [2] : [2, 4], layers), ...groupNormShapes([2], layers)];
}

export function elementsOf(shape: BenchShape): number {
  return shape.n * shape.c * shape.hw * shape.hw;
}

export function describeShape(shape: BenchShape): string {
  const dims = `${shape.n}x${shape.c}x${shape.hw}x${shape.hw}`;
  return shape.op === 'kn' ? `KN ${dims}` : `GKN ${dims} G=${shape.groups}`;
}
