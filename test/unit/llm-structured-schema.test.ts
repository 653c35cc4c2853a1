import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { toStrictJsonSchema } from '../../src/llm/structured-schema.ts';

describe('toStrictJsonSchema', () => {
  const schema = z.object({
    title: z.string().describe('Short title'),
    tags: z.array(z.object({ key: z.string(), value: z.number().optional() })),
    note: z.string().optional(),
    owner: z.string().nullable(),
  });

  test('produces a closed object schema with every property required and optional ones nullable', () => {
    const { schema: json } = toStrictJsonSchema(schema);
    assert.equal(json.type, 'object');
    assert.equal(json.$schema, undefined);
    assert.deepEqual(json.required, ['title', 'tags', 'note', 'owner']);
    assert.equal(json.additionalProperties, false);
    const properties = json.properties as Record<string, Record<string, unknown>>;
    assert.deepEqual(properties.note, { anyOf: [{ type: 'string' }, { type: 'null' }] });
    const item = (properties.tags?.items ?? {}) as Record<string, unknown>;
    assert.deepEqual(item.required, ['key', 'value']);
    assert.equal(item.additionalProperties, false);
  });

  test('maps nulls of optional properties back to absent keys, keeping nulls of nullable ones', () => {
    const { restoreOptional } = toStrictJsonSchema(schema);
    const restored = restoreOptional({ title: 'x', tags: [{ key: 'a', value: null }], note: null, owner: null });
    assert.deepEqual(restored, { title: 'x', tags: [{ key: 'a' }], owner: null });
    assert.equal(schema.safeParse(restored).success, true);
  });

  test('rejects a schema whose root is not an object', () => {
    assert.throws(() => toStrictJsonSchema(z.array(z.string())), /object at the root/);
  });
});
