// The minimal bytes each pass must move, and which count a row used: forward-train reads x once
// (twice when a statistic unit does not fit on chip, since it must be read again to normalize)
// and writes y; backward reads x and dy (twice each when a unit does not fit) and writes dx.

export type Pass = 'forward' | 'backward' | 'forward+backward';
export const PASSES: Pass[] = ['forward', 'backward', 'forward+backward'];

export interface Traffic {
  bytes: number;
  counted: string; // e.g. "2x + y"
}

export function minimalTraffic(pass: Pass, tensorBytes: number, unitBytes: number, onChipBytes: number): Traffic {
  const reread = unitBytes > onChipBytes;
  const forward = reread ? { tensors: 3, counted: '2x + y' } : { tensors: 2, counted: 'x + y' };
  const backward = reread ? { tensors: 5, counted: '2x + 2dy + dx' } : { tensors: 3, counted: 'x + dy + dx' };
  if (pass === 'forward') return { bytes: forward.tensors * tensorBytes, counted: forward.counted };
  if (pass === 'backward') return { bytes: backward.tensors * tensorBytes, counted: backward.counted };
  return { bytes: (forward.tensors + backward.tensors) * tensorBytes, counted: `${forward.counted}, ${backward.counted}` };
}
