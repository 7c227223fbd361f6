// A seeded generator (mulberry32 + Box-Muller), so every method sees the same initialization and
// the same order of samples.
export interface Random {
  uniform(): number;
  normal(): number;
}

export function makeRandom(seed: number): Random {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // 1 - uniform() lies in (0, 1], so the logarithm stays finite.
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** Fisher-Yates, in place. */
export function shuffle(values: Int32Array, random: Random): void {
  for (let i = values.length - 1; i > 0; --i) {
    const j = Math.floor(random.uniform() * (i + 1));
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
}
