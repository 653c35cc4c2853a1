import type { Root } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { blocksFromMdast, type ParsedDocument, titleFromBlocks } from './document-blocks.ts';

const frontMatterPattern = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

/** Front matter is stripped rather than parsed as Markdown, where `---` would turn its lines into a heading. */
function splitFrontMatter(text: string): { body: string; title?: string } {
  const match = frontMatterPattern.exec(text);
  if (!match) return { body: text };
  const body = text.slice(match[0].length);
  const titleLine = /^title:[ \t]*(.+)$/m.exec(match[1] ?? '');
  const title = titleLine?.[1]?.trim().replace(/^(['"])(.*)\1$/, '$2');
  return title ? { body, title } : { body };
}

/** CommonMark + GFM (tables, task lists, strikethrough, footnotes) to blocks, keeping the author's Markdown. */
export function parseMarkdown(text: string): ParsedDocument {
  const { body, title: frontMatterTitle } = splitFrontMatter(text.replace(/\r\n?/g, '\n'));
  const root: Root = fromMarkdown(body, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const blocks = blocksFromMdast(root, body);
  const title = frontMatterTitle ?? titleFromBlocks(blocks);
  return title ? { format: 'markdown', title, blocks } : { format: 'markdown', blocks };
}
