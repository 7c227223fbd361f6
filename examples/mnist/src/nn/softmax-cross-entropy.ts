// Softmax cross-entropy, averaged over the batch: logits [N, K], integer labels [N].

import { Floats } from './parameter';

/**
 * Returns the mean loss and the number of correct argmax predictions; writes
 * dLogits = (softmax(logits) - onehot(label)) / N when given.
 */
export function softmaxCrossEntropy(
  logits: Floats, labels: ArrayLike<number>, classes: number, dLogits: Floats | null = null,
): { loss: number; correct: number } {
  const batch = labels.length;
  let loss = 0, correct = 0;
  for (let n = 0; n < batch; ++n) {
    const row = n * classes;
    let largest = -Infinity, best = 0;
    for (let k = 0; k < classes; ++k) if (logits[row + k] > largest) { largest = logits[row + k]; best = k; }
    // Shift by the largest logit so exp never overflows.
    let total = 0;
    for (let k = 0; k < classes; ++k) total += Math.exp(logits[row + k] - largest);
    const logTotal = Math.log(total);
    loss += logTotal - (logits[row + labels[n]] - largest);
    if (best === labels[n]) correct += 1;
    if (dLogits)
      for (let k = 0; k < classes; ++k)
        dLogits[row + k] = (Math.exp(logits[row + k] - largest - logTotal) - (k === labels[n] ? 1 : 0)) / batch;
  }
  return { loss: loss / batch, correct };
}
