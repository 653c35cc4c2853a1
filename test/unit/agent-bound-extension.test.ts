import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AgentLimits } from '../../src/capabilities/agent/agent-runtime.ts';
import { effectiveLimit, extensionFor } from '../../src/capabilities/agent/run-bounds.ts';
import type { BoundName } from '../../src/capabilities/agent/run-state.ts';

const limits: AgentLimits = { maxSteps: 8, maxToolCalls: 5, maxRunMicroUsd: 250_000, maxRunMs: 90_000 };

/** Approves every extension offered until none is left; returns the amounts granted. */
function approveUntilCeiling(bound: BoundName): { amounts: number[]; final: number } {
  const state: { extensions?: Partial<Record<BoundName, number>> } = {};
  const amounts: number[] = [];
  for (let round = 0; round < 100; round += 1) {
    const amount = extensionFor(state, limits, bound);
    if (amount === 0) break;
    amounts.push(amount);
    state.extensions = { ...state.extensions, [bound]: (state.extensions?.[bound] ?? 0) + amount };
  }
  return { amounts, final: effectiveLimit(state, limits, bound) };
}

describe('bound extensions', () => {
  test('each approval adds half the configured bound and the total never passes twice the bound', () => {
    assert.deepEqual(approveUntilCeiling('steps'), { amounts: [4, 4], final: 16 });
    assert.deepEqual(approveUntilCeiling('tool_calls'), { amounts: [3, 2], final: 10 });
    assert.deepEqual(approveUntilCeiling('cost'), { amounts: [125_000, 125_000], final: 500_000 });
  });

  test('time is extended in whole seconds, capped at the ceiling', () => {
    assert.deepEqual(approveUntilCeiling('time'), { amounts: [45_000, 45_000], final: 180_000 });
    const odd = { ...limits, maxRunMs: 1_500 };
    assert.equal(extensionFor({}, odd, 'time'), 1_000);
    assert.equal(extensionFor({ extensions: { time: 1_000 } }, odd, 'time'), 500);
  });

  test('a run may continue after errors at most twice', () => {
    assert.deepEqual(approveUntilCeiling('errors'), { amounts: [1, 1], final: 4 });
  });
});
