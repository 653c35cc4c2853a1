/**
 * Parsing the text after `/docs` into one action. Every input parses: an unknown or malformed command becomes
 * `help` with the specific problem, shown above `docsUsage`.
 */

export type DocsCommand =
  | { action: 'list' }
  | { action: 'add'; scope: 'channel' | 'workspace' }
  | { action: 'forget'; target: string }
  | { action: 'help'; problem?: string };

/** The help text of `/docs`. */
export const docsUsage = [
  '*`/docs`* — list the documents this channel can see',
  '*`/docs add`* — add the file you just shared here to this channel’s documents (`/docs add workspace`: to every channel; admins only)',
  '*`/docs forget <title or id>`* — remove a document (admins or whoever added it)',
  'You can also share a file and mention me in the same message to add it, or save a whole thread with the *Save to Deskhand docs* message shortcut.',
].join('\n');

/** Parses the text after `/docs`. */
export function parseDocsCommand(text: string): DocsCommand {
  const trimmed = text.trim();
  if (trimmed === '' || /^(list|ls)$/i.test(trimmed)) return { action: 'list' };
  const [word = '', ...rest] = trimmed.split(/\s+/);
  const argument = rest.join(' ').trim();
  switch (word.toLowerCase()) {
    case 'help':
      return { action: 'help' };
    case 'add':
      if (argument === '' || /^channel$/i.test(argument)) return { action: 'add', scope: 'channel' };
      if (/^workspace$/i.test(argument)) return { action: 'add', scope: 'workspace' };
      return { action: 'help', problem: `\`/docs add\` takes \`channel\` or \`workspace\`, not “${argument}”.` };
    case 'forget':
    case 'remove':
    case 'delete':
      if (!argument) return { action: 'help', problem: 'Say which document to forget: `/docs forget <title or id>`.' };
      return { action: 'forget', target: argument.replace(/^["“”']|["“”']$/g, '') };
    default:
      return { action: 'help', problem: `I don’t know \`/docs ${word}\`.` };
  }
}
