/**
 * The float16 / bfloat16 conversions of test/util/half.ts, which the GPU suite uses to make 16-bit
 * inputs and read 16-bit outputs: known encodings, ties to even, overflow and subnormals, every
 * bit pattern round-tripping, and random float32 values landing on their nearest neighbour.
 * Runs on every machine.
 */
import { expect } from 'chai';
import { HalfFormat, decodeHalf, encodeHalf, fromHalfBits, roundToHalf, toHalfBits } from './util/half';
import { makeRandom } from './util/random';

const FORMATS: readonly HalfFormat[] = ['float16', 'bfloat16'];

/** Exactly representable values and their bits, from the IEEE 754 binary16 tables and the bfloat16 definition. */
const EXACT: Record<HalfFormat, [number, number][]> = {
  float16: [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [2 ** -14, 0x0400], [2 ** -24, 0x0001], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ],
  bfloat16: [
    [0, 0x0000], [-0, 0x8000], [1, 0x3f80], [-2, 0xc000], [0.5, 0x3f00],
    [2 ** -126, 0x0080], [2 ** -133, 0x0001], [Infinity, 0x7f80], [-Infinity, 0xff80],
  ],
};

/** Values that must be rounded, and the bits of their nearest representable neighbour. */
const ROUNDED: Record<HalfFormat, [number, number][]> = {
  float16: [[1 / 3, 0x3555], [0.1, 0x2e66], [-Math.PI, 0xc248]],
  bfloat16: [[1 / 3, 0x3eab], [0.1, 0x3dcd], [-Math.PI, 0xc049]],
};

/** The float32 bits of a value. */
function float32Bits(value: number): number {
  return new Uint32Array(Float32Array.of(value).buffer)[0];
}

/** Independent bfloat16 rounding: the usual integer trick on the float32 bits (not valid for NaN). */
function bfloat16ByBitTrick(value: number): number {
  const bits = float32Bits(value);
  return Math.floor((bits + 0x7fff + (Math.floor(bits / 0x10000) & 1)) / 0x10000) & 0xffff;
}

describe('half-precision conversions (test/util/half.ts)', function () {
  for (const format of FORMATS) {
    describe(format, function () {
      it('encodes exactly representable values to their documented bits, and decodes them back', function () {
        for (const [value, bits] of EXACT[format]) {
          expect(toHalfBits(value, format), `bits of ${value}`).to.equal(bits);
          expect(Object.is(fromHalfBits(bits, format), value), `value of 0x${bits.toString(16)}`).to.equal(true);
        }
      });

      it('encodes other values as their nearest representable neighbour', function () {
        for (const [value, bits] of ROUNDED[format]) expect(toHalfBits(value, format), `bits of ${value}`).to.equal(bits);
      });

      it('rounds halfway cases to the even neighbour', function () {
        const ulpAtOne = format === 'float16' ? 2 ** -10 : 2 ** -7;
        const one = toHalfBits(1, format);
        expect(toHalfBits(1 + ulpAtOne / 2, format), '1 + ulp/2 goes down to 1 (even)').to.equal(one);
        expect(toHalfBits(1 + 1.5 * ulpAtOne, format), '1 + 1.5 ulp goes up to 1 + 2 ulp (even)').to.equal(one + 2);
        expect(toHalfBits(1 + ulpAtOne / 2 + 2 ** -20, format), 'just above halfway goes up').to.equal(one + 1);
      });

      it('overflows to infinity past the largest value, and keeps NaN a NaN', function () {
        const largest = format === 'float16' ? 65504 : 3.3895313892515355e38;
        const halfwayToNext = format === 'float16' ? 65520 : (2 - 2 ** -8) * 2 ** 127;
        expect(fromHalfBits(toHalfBits(largest, format), format)).to.equal(largest);
        expect(fromHalfBits(toHalfBits(halfwayToNext, format), format)).to.equal(Infinity);
        expect(fromHalfBits(toHalfBits(-halfwayToNext, format), format)).to.equal(-Infinity);
        expect(Number.isNaN(fromHalfBits(toHalfBits(NaN, format), format))).to.equal(true);
      });

      it('rounds below the smallest subnormal to zero or to the smallest subnormal', function () {
        const smallest = format === 'float16' ? 2 ** -24 : 2 ** -133;
        expect(toHalfBits(smallest / 2, format), 'half the smallest: tie to even zero').to.equal(0);
        expect(toHalfBits(smallest * 0.75, format), 'three quarters: up').to.equal(1);
        expect(toHalfBits(-smallest / 4, format), 'negative underflow keeps the sign').to.equal(toHalfBits(-0, format));
      });

      it('round-trips every one of the 65536 bit patterns (NaNs stay NaN)', function () {
        for (let bits = 0; bits < 0x10000; bits++) {
          const value = fromHalfBits(bits, format);
          if (Number.isNaN(value)) continue;
          expect(Math.fround(value), `0x${bits.toString(16)} is a float32`).to.equal(value);
          const back = toHalfBits(value, format);
          if (back !== bits) expect.fail(`0x${bits.toString(16)} -> ${value} -> 0x${back.toString(16)}`);
        }
      });

      it('puts random float32 values on the nearer of their two neighbours', function () {
        const rng = makeRandom(format === 'float16' ? 16 : 17);
        const values = Float32Array.from({ length: 20000 }, () => (rng.normal() * 2 ** (rng.uniform() * 20 - 10)));
        const bits = encodeHalf(values, format);
        const decoded = decodeHalf(bits, format);
        for (let i = 0; i < values.length; i++) {
          const error = Math.abs(decoded[i] - values[i]);
          // The neighbours one step either side in magnitude are never closer.
          for (const neighbour of [bits[i] - 1, bits[i] + 1]) {
            const other = fromHalfBits(neighbour & 0xffff, format);
            if (Math.abs(other - values[i]) < error) expect.fail(`${values[i]}: 0x${neighbour.toString(16)} is nearer than 0x${bits[i].toString(16)}`);
          }
        }
        expect(Array.from(roundToHalf(values, format))).to.deep.equal(Array.from(decoded));
      });
    });
  }

  it('bfloat16 agrees with the integer rounding trick on float32 bits', function () {
    const rng = makeRandom(18);
    for (let i = 0; i < 20000; i++) {
      const value = Math.fround(rng.normal() * 2 ** (rng.uniform() * 200 - 100));
      expect(toHalfBits(value, 'bfloat16'), `${value}`).to.equal(bfloat16ByBitTrick(value));
    }
  });
});
