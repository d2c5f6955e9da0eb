/**
 * Assertions for replay: each replayed response judged against its recording (compare.ts) with
 * noise learned from the snapshot (noise.ts), `--fail-if` goals (goals.ts) and `--baseline`
 * regressions (baseline.ts). The engine and the report import from here.
 */
export { compareResponse, firstDifference, DIFFERENCE_LIMIT, type CompareOptions } from './compare.ts';
export {
  learnNoise,
  defaultNoise,
  endpointOf,
  NoiseLearner,
  shapeReason,
  REASON,
  VOLATILE_HEADERS,
  type IgnoreSpec,
  type NoiseModel,
  type NoiseOptions,
} from './noise.ts';
export { compareHeaders, DEFAULT_COMPARED_HEADERS, SET_COOKIE_VALUES } from './headers.ts';
export { diffJson, MISSING } from './json-diff.ts';
export {
  parseGoals,
  checkGoals,
  describeGoalResult,
  GOAL_METRICS,
  type Goal,
  type GoalMetric,
  type GoalOp,
  type GoalResult,
} from './goals.ts';
export {
  compareBaseline,
  loadBaseline,
  runSummarySchema,
  type BaselineComparison,
  type BaselineOptions,
  type Regression,
} from './baseline.ts';
