import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CircuitBreaker } from '../../src/llm/circuit-breaker.ts';

describe('CircuitBreaker', () => {
  test('opens after the threshold of consecutive failures and fails fast until the open period ends', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1000, now: () => now });
    breaker.recordFailure();
    assert.equal(breaker.tryAcquire(), true);
    breaker.recordFailure();
    assert.equal(breaker.current, 'open');
    assert.equal(breaker.tryAcquire(), false);
    now = 999;
    assert.equal(breaker.tryAcquire(), false);
  });

  test('a success between failures resets the count', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    assert.equal(breaker.current, 'closed');
  });

  test('lets exactly one probe through when half-open; its success closes, its failure reopens', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 100, now: () => now });
    breaker.recordFailure();
    now = 100;
    assert.equal(breaker.tryAcquire(), true);
    assert.equal(breaker.current, 'half_open');
    assert.equal(breaker.tryAcquire(), false);
    breaker.recordFailure();
    assert.equal(breaker.current, 'open');
    now = 200;
    assert.equal(breaker.tryAcquire(), true);
    breaker.recordSuccess();
    assert.equal(breaker.current, 'closed');
    assert.equal(breaker.tryAcquire(), true);
  });

  test('a neutral outcome frees the probe without closing or opening', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 10, now: () => now });
    breaker.recordFailure();
    now = 10;
    assert.equal(breaker.tryAcquire(), true);
    breaker.recordNeutral();
    assert.equal(breaker.current, 'half_open');
    assert.equal(breaker.tryAcquire(), true);
  });
});
