// The values of every gradient of a backward call, by name, as plain arrays (a scalar dGain as
// one value): for comparing two calls' gradients with deep equality.
import { NormGradients, Tensor } from '../../lib';

export function gradientArrays(gradients: NormGradients): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, value] of Object.entries(gradients)) out[name] = typeof value === 'number' ? [value] : Array.from((value as Tensor).toArray());
  return out;
}
