/** A seeded source of random numbers, so every test sees the same data on every run. */
export interface Random {
  /** Uniform on [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
}

export function makeRandom(seed: number): Random {
  let state = seed >>> 0;

  // mulberry32: a 32-bit state is plenty for test data, and the generator fits in four lines.
  function uniform(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  // Box-Muller. 1 - uniform() lies in (0, 1], so the logarithm stays finite.
  function normal(): number {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    return radius * Math.cos(2 * Math.PI * uniform());
  }

  return { uniform, normal };
}

/** `length` independent draws from N(mean, std^2); mean 0 and std 1 unless given. */
export function randomArray(
  rng: Random,
  length: number,
  opts: { mean?: number; std?: number } = {},
): Float64Array {
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  const values = new Float64Array(length);
  for (let i = 0; i < length; i++) values[i] = mean + std * rng.normal();
  return values;
}
