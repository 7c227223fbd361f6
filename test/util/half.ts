/**
 * 16-bit floating point formats as raw bits, for feeding the GPU float16 / bfloat16 tensors and
 * reading them back. Encoding takes the float32 nearest to the value (what a float32 kernel holds)
 * and rounds it to nearest, ties to even, like the CUDA intrinsics __float2half_rn and
 * __float2bfloat16_rn. Both formats are handled by one routine parametrized by their bit widths.
 */

export type HalfFormat = 'float16' | 'bfloat16';

interface FormatBits {
  exponentBits: number;
  mantissaBits: number; // stored fraction bits, without the implicit leading 1
}

const FORMATS: Record<HalfFormat, FormatBits> = {
  float16: { exponentBits: 5, mantissaBits: 10 },
  bfloat16: { exponentBits: 8, mantissaBits: 7 },
};

/** 2^-mantissaBits: the spacing of values in [1, 2), so one ulp relative to a value's binade. */
export function halfEpsilon(format: HalfFormat): number {
  return 2 ** -FORMATS[format].mantissaBits;
}

/** Rounds a non-negative number to an integer, ties to even. Exact for values below 2^52. */
function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  return fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
}

/** floor(log2(value)) for a finite value > 0, exact even where Math.log2 rounds up to an integer. */
function binadeOf(value: number): number {
  let exponent = Math.floor(Math.log2(value));
  if (2 ** exponent > value) exponent--;
  else if (2 ** (exponent + 1) <= value) exponent++;
  return exponent;
}

/** The bits of `value` (rounded to float32 first) in `format`, rounded to nearest, ties to even. */
export function toHalfBits(value: number, format: HalfFormat): number {
  const { exponentBits, mantissaBits } = FORMATS[format];
  const bias = 2 ** (exponentBits - 1) - 1;
  const maxBiasedExponent = 2 ** exponentBits - 1; // all ones: infinity and NaN
  const infinityBits = maxBiasedExponent * 2 ** mantissaBits;
  const x = Math.fround(value);
  if (Number.isNaN(x)) return infinityBits + 2 ** (mantissaBits - 1); // the canonical quiet NaN
  const sign = x < 0 || Object.is(x, -0) ? 2 ** (exponentBits + mantissaBits) : 0;
  const magnitude = Math.abs(x);
  if (magnitude === Infinity) return sign + infinityBits;

  // Count the magnitude in steps of the format's spacing around it; below the smallest normal
  // binade the spacing stays that of the smallest normal binade (subnormals).
  const smallestExponent = 1 - bias;
  let exponent = magnitude === 0 ? smallestExponent : Math.max(smallestExponent, binadeOf(magnitude));
  let steps = roundHalfToEven(magnitude / 2 ** (exponent - mantissaBits)); // power-of-two division: exact
  const implicitOne = 2 ** mantissaBits;
  if (steps < implicitOne) return sign + steps; // subnormal or zero (exponent is the smallest)
  if (steps === 2 * implicitOne) {
    // Rounding carried into the next binade.
    steps = implicitOne;
    exponent++;
  }
  const biasedExponent = exponent + bias;
  if (biasedExponent >= maxBiasedExponent) return sign + infinityBits; // overflow
  return sign + biasedExponent * implicitOne + (steps - implicitOne);
}

/** The value of 16 bits in `format` (exactly representable in float32). */
export function fromHalfBits(bits: number, format: HalfFormat): number {
  const { exponentBits, mantissaBits } = FORMATS[format];
  const bias = 2 ** (exponentBits - 1) - 1;
  const maxBiasedExponent = 2 ** exponentBits - 1;
  const sign = bits & 2 ** (exponentBits + mantissaBits) ? -1 : 1;
  const biasedExponent = Math.floor(bits / 2 ** mantissaBits) % 2 ** exponentBits;
  const mantissa = bits % 2 ** mantissaBits;
  if (biasedExponent === maxBiasedExponent) return mantissa === 0 ? sign * Infinity : NaN;
  if (biasedExponent === 0) return sign * mantissa * 2 ** (1 - bias - mantissaBits);
  return sign * (1 + mantissa / 2 ** mantissaBits) * 2 ** (biasedExponent - bias);
}

/** Every value of `values` as bits in `format`: what a 16-bit GPU tensor takes. */
export function encodeHalf(values: ArrayLike<number>, format: HalfFormat): Uint16Array {
  return Uint16Array.from({ length: values.length }, (_, i) => toHalfBits(values[i], format));
}

/** The values of 16-bit data in `format`. */
export function decodeHalf(bits: Uint16Array, format: HalfFormat): Float64Array {
  return Float64Array.from(bits, (b) => fromHalfBits(b, format));
}

/** `values` rounded to `format` and back: the numbers a 16-bit tensor made from them holds. */
export function roundToHalf(values: ArrayLike<number>, format: HalfFormat): Float64Array {
  return decodeHalf(encodeHalf(values, format), format);
}
