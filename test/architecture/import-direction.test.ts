/**
 * The architecture rule, enforced: `src/` has no import cycle and every import points down the floors declared
 * in `layers.ts` (ARCHITECTURE.md draws them). The checker itself is shown to catch a deliberately wrong import
 * and a cycle in a throwaway tree, so a green run cannot come from a checker that sees nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkLayers, findCycles, type Layer, readImportGraph } from './import-graph.ts';
import { sourceLayers } from './layers.ts';

const sourceRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'deskhand-imports-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const toyLayers: Layer[] = [
  { name: 'router', paths: ['router'] },
  { name: 'capabilities', paths: ['capabilities/answers', 'capabilities/tickets'] },
  { name: 'ports', paths: ['ports'] },
];

describe('import direction', () => {
  const graph = readImportGraph(sourceRoot);

  it('reads the real source tree (the checker sees files and imports)', () => {
    assert.ok(graph.files.length > 50, `only ${graph.files.length} files found under ${sourceRoot}`);
    assert.ok(graph.edges.length > 100, `only ${graph.edges.length} imports found`);
  });

  it('src/ has no import cycle', () => {
    assert.deepEqual(findCycles(graph), []);
  });

  it('every import in src/ points down the layers, and every file has a layer', () => {
    const violations = checkLayers(graph, sourceLayers).map((violation) => violation.reason);
    assert.deepEqual(violations, []);
  });

  it('catches a deliberately upward import, naming file, line and layers', () => {
    const root = tree({
      'router/router.ts': "import { answer } from '../capabilities/answers/answer.ts';\n",
      'capabilities/answers/answer.ts': "import type { Port } from '../../ports/port.ts';\nexport const answer = 1;\n",
      'ports/port.ts': "\n\nimport { answer } from '../capabilities/answers/answer.ts';\nexport type Port = number;\n",
    });
    try {
      const reasons = checkLayers(readImportGraph(root), toyLayers).map((violation) => violation.reason);
      assert.deepEqual(reasons, [
        'ports/port.ts:3 imports capabilities/answers/answer.ts: ports may not import up into capabilities',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('catches a sideways import between rooms of one floor and a file in no layer', () => {
    const root = tree({
      'capabilities/answers/answer.ts': "export { ticket } from '../tickets/ticket.ts';\n",
      'capabilities/tickets/ticket.ts': 'export const ticket = 1;\n',
      'stray/loose.ts': "const worker = new URL('../ports/port.ts', import.meta.url);\n",
      'ports/port.ts': 'export type Port = number;\n',
    });
    try {
      const reasons = checkLayers(readImportGraph(root), toyLayers).map((violation) => violation.reason);
      assert.deepEqual(reasons, [
        'stray/loose.ts is in no layer',
        'capabilities/answers/answer.ts:1 imports capabilities/tickets/ticket.ts: capabilities may not import sideways within capabilities',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('finds a cycle, type-only and dynamic imports included', () => {
    const root = tree({
      'a.ts': "import type { B } from './b.ts';\nexport type A = B;\n",
      'b.ts': "export type B = number;\nexport const load = () => import('./c.ts');\n",
      'c.ts': "import './a.ts';\n",
      'd.ts': "import './a.ts';\n",
    });
    try {
      assert.deepEqual(findCycles(readImportGraph(root)), [['a.ts', 'b.ts', 'c.ts']]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
