/**
 * The import graph of a source tree, read from the files' text, and the two rules the architecture test holds
 * it to: no import cycles, and imports that only point down the layers declared in `layers.ts`.
 *
 * Hand-written rather than a dependency-cruiser config: the rules are a dozen lines of data, the reader is a
 * regular expression over ESM `import`/`export … from`/`import()` and the worker URLs
 * (`new URL('./x.ts', import.meta.url)`), and the test must run on a plain clone with no extra install.
 * Type-only imports count: a type that lives above its user is an upward dependency too.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface ImportEdge {
  /** Importing file, relative to the root, with `/` separators. */
  from: string;
  /** Imported file, relative to the root. */
  to: string;
  /** 1-based line of the import in `from`. */
  line: number;
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
}

const importPattern =
  /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|new URL\(\s*['"](\.{1,2}\/[^'"]+\.ts)['"]\s*,\s*import\.meta\.url|(?:^|[\s;])import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function listSources(directory: string, into: string[]): void {
  for (const entry of readdirSync(directory).sort()) {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) listSources(path, into);
    else if (/\.(ts|mts)$/.test(entry) && !entry.endsWith('.d.ts')) into.push(path);
  }
}

const toPosix = (path: string) => path.split('\\').join('/');

/** Reads every `.ts` file under `root` and the relative imports between them. */
export function readImportGraph(root: string): ImportGraph {
  const absolute: string[] = [];
  listSources(root, absolute);
  const known = new Set(absolute);
  const edges: ImportEdge[] = [];
  for (const file of absolute) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(importPattern)) {
      const specifier = match[1] ?? match[2] ?? match[3] ?? match[4];
      if (specifier === undefined) continue;
      const target = resolve(dirname(file), specifier);
      const hit = [target, `${target}.ts`, join(target, 'index.ts')].find((candidate) => known.has(candidate));
      if (hit === undefined || hit === file) continue;
      const start = match.index + match[0].length - match[0].trimStart().length;
      const line = text.slice(0, start).split('\n').length;
      edges.push({ from: toPosix(relative(root, file)), to: toPosix(relative(root, hit)), line });
    }
  }
  return { files: absolute.map((file) => toPosix(relative(root, file))), edges };
}

/** Every import cycle (strongly connected component of more than one file), each as a sorted list of files. */
export function findCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>(graph.files.map((file) => [file, []]));
  for (const edge of graph.edges) next.get(edge.from)?.push(edge.to);
  // Tarjan's algorithm, iterative so a deep graph cannot overflow the stack.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  for (const start of graph.files) {
    if (index.has(start)) continue;
    const work: { node: string; child: number }[] = [{ node: start, child: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: string; child: number };
      const children = next.get(frame.node) ?? [];
      if (frame.child < children.length) {
        const child = children[frame.child++] as string;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, child: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.node, Math.min(low.get(frame.node) as number, index.get(child) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        if (component.length > 1) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

/** One floor of the house: the folders (or files) in it, relative to the source root. */
export interface Layer {
  name: string;
  paths: readonly string[];
  /** Whether files of one room of this floor may import another room of the same floor (default: no). */
  roomsMayImportEachOther?: boolean;
}

export interface LayerViolation {
  edge: ImportEdge;
  reason: string;
}

function placeOf(file: string, layers: readonly Layer[]): { floor: number; room: string } | undefined {
  let best: { floor: number; room: string } | undefined;
  layers.forEach((layer, floor) => {
    for (const room of layer.paths) {
      const matches = file === room || file.startsWith(`${room}/`);
      if (matches && (best === undefined || room.length > best.room.length)) best = { floor, room };
    }
  });
  return best;
}

/**
 * Checks that every import points down: `layers` run from the top floor (index 0) to the bottom. A file may
 * import its own room, any lower floor, and another room of its own floor only when that floor allows it. A
 * file in no layer is reported too, so a new folder must be given its floor.
 */
export function checkLayers(graph: ImportGraph, layers: readonly Layer[]): LayerViolation[] {
  const violations: LayerViolation[] = [];
  const unplaced = new Set<string>();
  for (const file of graph.files) if (placeOf(file, layers) === undefined) unplaced.add(file);
  for (const file of unplaced) {
    violations.push({ edge: { from: file, to: file, line: 1 }, reason: `${file} is in no layer` });
  }
  for (const edge of graph.edges) {
    const from = placeOf(edge.from, layers);
    const to = placeOf(edge.to, layers);
    if (from === undefined || to === undefined) continue;
    if (from.room === to.room || to.floor > from.floor) continue;
    const fromLayer = layers[from.floor] as Layer;
    const toLayer = layers[to.floor] as Layer;
    if (to.floor === from.floor && fromLayer.roomsMayImportEachOther) continue;
    const direction = to.floor === from.floor ? 'sideways within' : 'up into';
    violations.push({
      edge,
      reason: `${edge.from}:${edge.line} imports ${edge.to}: ${fromLayer.name} may not import ${direction} ${toLayer.name}`,
    });
  }
  return violations;
}
