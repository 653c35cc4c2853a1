/**
 * Counts the characters of text in a DOCX's `word/document.xml` while its bytes are being inflated, before mammoth
 * builds anything from them: the character budget of a DOCX is enforced on the stream, so a document with far
 * more text than we index is refused after a cheap scan instead of after minutes of XML, HTML and Markdown trees.
 *
 * Guarantees: linear in the bytes fed, constant memory (the tag name read so far, at most 8 bytes). The count is
 * the text of `<w:t>` runs (what Word shows), an entity (`&amp;`) counted as one character and a multi-byte UTF-8
 * character as one; other parts (tabs, breaks, list numbers) are not counted, so it never exceeds the text mammoth
 * extracts by more than a few characters per paragraph, and the parsed result is checked again afterwards.
 */

const lessThan = 0x3c;
const greaterThan = 0x3e;
const slash = 0x2f;
const ampersand = 0x26;
const semicolon = 0x3b;
const textTag = 'w:t';

type State = 'outside' | 'tagName' | 'textTagAttributes' | 'skipTag' | 'text' | 'entity';

export class DocxTextCounter {
  #state: State = 'outside';
  #tagName = '';
  #previous = 0;
  characters = 0;

  /** Adds the text in `chunk` (any split of the XML: a tag or a character may straddle two chunks). */
  feed(chunk: Uint8Array): void {
    for (const byte of chunk) {
      this.#step(byte);
      this.#previous = byte;
    }
  }

  #step(byte: number): void {
    switch (this.#state) {
      case 'outside':
        if (byte === lessThan) this.#openTag();
        return;
      case 'text':
        if (byte === lessThan) this.#openTag();
        else if (byte === ampersand) this.#state = 'entity';
        // UTF-8 continuation bytes (10xxxxxx) belong to the character their lead byte counted.
        else if ((byte & 0xc0) !== 0x80) this.characters += 1;
        return;
      case 'entity':
        if (byte === semicolon) {
          this.characters += 1;
          this.#state = 'text';
        }
        return;
      case 'tagName':
        this.#readTagName(byte);
        return;
      case 'textTagAttributes':
        if (byte === greaterThan) this.#state = this.#previous === slash ? 'outside' : 'text';
        return;
      case 'skipTag':
        if (byte === greaterThan) this.#state = 'outside';
        return;
    }
  }

  #openTag(): void {
    this.#state = 'tagName';
    this.#tagName = '';
  }

  #readTagName(byte: number): void {
    const isText = this.#tagName === textTag;
    if (byte === greaterThan) {
      this.#state = isText ? 'text' : 'outside';
    } else if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) {
      this.#state = isText ? 'textTagAttributes' : 'skipTag';
    } else if (byte === slash && isText) {
      this.#state = 'skipTag'; // <w:t/>: an empty run
    } else if (this.#tagName.length > textTag.length) {
      this.#state = 'skipTag';
    } else {
      this.#tagName += String.fromCharCode(byte);
    }
  }
}
