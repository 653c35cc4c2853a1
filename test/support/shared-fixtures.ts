/**
 * Where the official specs and real fixtures live: `shared/fixtures` beside the repository (CI lays a copy of
 * shared/ next to its clone), or `DESKHAND_SHARED_DIR` when it is elsewhere.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repositoryRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const sharedDirectory = process.env.DESKHAND_SHARED_DIR ?? resolve(repositoryRoot, '..', 'shared');
export const sharedFixtures = resolve(sharedDirectory, 'fixtures');
