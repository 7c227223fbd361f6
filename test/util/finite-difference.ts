/**
 * Central-difference gradient of `loss` with respect to every entry of `values`, which `loss`
 * must read. Each entry is moved by +h and -h in place and then restored. The step is
 * h_i = step * max(1, |values[i]|), so large entries get a step that rounding does not swallow.
 */
export function centralDifference(loss: () => number, values: Float64Array, step = 1e-6): Float64Array {
  const gradient = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const original = values[i];
    const h = step * Math.max(1, Math.abs(original));
    try {
      values[i] = original + h;
      const above = values[i];
      const lossAbove = loss();
      values[i] = original - h;
      const below = values[i];
      const lossBelow = loss();
      // Divide by the distance actually stepped: original +- h is rounded when it is stored.
      gradient[i] = (lossAbove - lossBelow) / (above - below);
    } finally {
      values[i] = original;
    }
  }
  return gradient;
}
