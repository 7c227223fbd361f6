import { native } from './binding';

/** Threads the CPU backend spreads large tensors over (KN_NUM_THREADS overrides). */
export function threadCount(): number {
  return native().threadCount();
}
