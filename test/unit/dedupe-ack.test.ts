/** A hostile `event_id` never becomes a hostile Redis key (issue 14): over 255 characters it is hashed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryIdOf } from '../../src/work/dedupe.ts';

test('a normal event id is the delivery id as it is', () => {
  assert.equal(deliveryIdOf({ event_id: 'Ev0123ABCD' }), 'event:Ev0123ABCD');
});

test('a 1 MB event id is hashed to a short, stable id', () => {
  const huge = `Ev${'X'.repeat(1024 * 1024)}`;
  const id = deliveryIdOf({ event_id: huge });
  assert.match(id, /^event:sha256:[0-9a-f]{64}$/);
  assert.equal(deliveryIdOf({ event_id: huge }), id, 'a redelivery gets the same id');
  assert.notEqual(deliveryIdOf({ event_id: `${huge}Y` }), id);
});
