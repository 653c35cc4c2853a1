/**
 * `embeddingInput`: the text embedded for a chunk — its document's title and section path, then its text.
 *
 * Guarantees: the title and the section path are each clipped to 300 characters (on a grapheme boundary), so a
 * runaway title cannot crowd out the chunk's text; `clip` is also used for document titles.
 */

/** Longest title and heading path kept in the embedded header: a runaway PDF title must not crowd out the text. */
const maxHeaderCharacters = 300;

/** Cuts `text` to at most `maxCharacters` on a grapheme boundary, marking the cut with an ellipsis. */
export function clip(text: string, maxCharacters: number): string {
  if (text.length <= maxCharacters) return text;
  const segments = new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text);
  const cut = segments.containing(maxCharacters)?.index ?? maxCharacters;
  return `${text.slice(0, cut).trimEnd()}…`;
}

/** What is embedded for a chunk: where it sits in the document, then its text (a contextual header). */
export function embeddingInput(title: string, sectionPath: string[], text: string): string {
  const location = clip(sectionPath.filter((heading) => heading !== title).join(' > '), maxHeaderCharacters);
  const heading = clip(title, maxHeaderCharacters);
  return location ? `${heading}\n${location}\n\n${text}` : `${heading}\n\n${text}`;
}
