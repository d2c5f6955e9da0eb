import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration, parseRate, parseSpeed, rateOffsetMs } from './load-model.ts';

describe('load models', () => {
  it('parses speeds, rates, ramps and durations; rejects the rest as usage errors', () => {
    assert.equal(parseSpeed('2x'), 2);
    assert.equal(parseSpeed('0.5x'), 0.5);
    assert.equal(parseSpeed('3'), 3);
    assert.deepEqual(parseRate('100'), { from: 100, to: 100 });
    assert.deepEqual(parseRate('10:100'), { from: 10, to: 100 });
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('5'), 5000);
    for (const bad of ['0x', 'fast', '-1x']) assert.throws(() => parseSpeed(bad), { code: 'TW_USAGE' });
    for (const bad of ['0', 'x', '10:0', '10:']) assert.throws(() => parseRate(bad), { code: 'TW_USAGE' });
    for (const bad of ['soon', '0s', '1d', '']) assert.throws(() => parseDuration(bad), { code: 'TW_USAGE' });
  });

  it('a fixed rate spaces requests evenly', () => {
    assert.equal(rateOffsetMs(0, { from: 100, to: 100 }), 0);
    assert.equal(rateOffsetMs(1, { from: 100, to: 100 }), 10);
    assert.equal(rateOffsetMs(250, { from: 100, to: 100 }), 2500);
  });

  it('a ramp sends the area under the rate line: 0 → 100 req/s over 10 s is 500 requests', () => {
    const ramp = { from: 0, to: 100 };
    const due = (ms: number) => {
      let n = 0;
      while (rateOffsetMs(n, ramp, 10_000) < ms) n++;
      return n;
    };
    assert.equal(due(10_000), 500);
    assert.equal(due(5000), 125); // a quarter of the area at half the time
    // Past the ramp, the final rate holds.
    assert.equal(rateOffsetMs(600, ramp, 10_000), 11_000);
    // Offsets only grow.
    for (let k = 1; k < 600; k++) assert.ok(rateOffsetMs(k, ramp, 10_000) > rateOffsetMs(k - 1, ramp, 10_000));
  });
});
