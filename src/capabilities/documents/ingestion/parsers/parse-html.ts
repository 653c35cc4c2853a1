import type { Element, Nodes as HastNodes, Root as HastRoot } from 'hast';
import { fromHtml } from 'hast-util-from-html';
import { toMdast } from 'hast-util-to-mdast';
import type { Root } from 'mdast';
import { blocksFromMdast, type DocumentFormat, type ParsedDocument, titleFromBlocks } from './document-blocks.ts';

function findElement(node: HastNodes, tagName: string): Element | undefined {
  if (node.type === 'element' && node.tagName === tagName) return node;
  if (!('children' in node)) return undefined;
  for (const child of node.children) {
    const found = findElement(child, tagName);
    if (found) return found;
  }
  return undefined;
}

function textOf(node: HastNodes): string {
  if (node.type === 'text') return node.value;
  if (!('children' in node)) return '';
  return node.children.map(textOf).join('');
}

function elements(node: HastNodes, tagName: string, into: Element[] = []): Element[] {
  if (node.type === 'element' && node.tagName === tagName) into.push(node);
  if ('children' in node) for (const child of node.children) elements(child, tagName, into);
  return into;
}

/**
 * A table without `<th>` (every DOCX table mammoth converts, many hand-written ones) would get an empty header
 * row from hast-util-to-mdast; its first row is the header in practice, so it is promoted.
 */
function promoteHeaderRows(tree: HastRoot): void {
  for (const table of elements(tree, 'table')) {
    if (elements(table, 'th').length > 0) continue;
    const firstRow = elements(table, 'tr')[0];
    if (!firstRow) continue;
    for (const cell of firstRow.children) {
      if (cell.type === 'element' && cell.tagName === 'td') cell.tagName = 'th';
    }
  }
}

/** Page furniture that repeats on every page of a site and answers no question. */
const boilerplateTags = new Set(['nav', 'aside', 'footer', 'noscript', 'form', 'template', 'button', 'dialog']);

function removeBoilerplate(node: HastNodes): void {
  if (!('children' in node)) return;
  node.children = node.children.filter(
    (child) => !(child.type === 'element' && boilerplateTags.has(child.tagName)),
  ) as typeof node.children;
  for (const child of node.children) removeBoilerplate(child);
}

/** The page's main content when it marks it (`<main>`, or a single `<article>`), else the whole document. */
function contentRoot(tree: HastRoot): HastRoot {
  const main = findElement(tree, 'main');
  const articles = elements(tree, 'article');
  const content = main ?? (articles.length === 1 ? articles[0] : undefined);
  return content ? { type: 'root', children: [content] } : tree;
}

/**
 * HTML to blocks through hast → mdast, so HTML (and DOCX, which mammoth turns into HTML) share the Markdown
 * structure path: headings, lists, tables and `<pre><code class="language-…">` become the same blocks.
 */
export function parseHtml(html: string, format: DocumentFormat = 'html'): ParsedDocument {
  const tree: HastRoot = fromHtml(html);
  const titleElement = findElement(tree, 'title');
  const htmlTitle = titleElement ? textOf(titleElement).replace(/\s+/g, ' ').trim() : '';
  const content = contentRoot(tree);
  removeBoilerplate(content);
  promoteHeaderRows(content);
  const root = toMdast(content) as Root;
  const blocks = blocksFromMdast(root);
  const title = htmlTitle || titleFromBlocks(blocks);
  return title ? { format, title, blocks } : { format, blocks };
}
