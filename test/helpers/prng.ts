/** A seeded PRNG for fuzz and split-point tests: the same mulberry32 the mock's fault dice use. */
export { mulberry32 } from '../../src/mock/faults.ts';
