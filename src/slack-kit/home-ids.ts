/**
 * Block Kit action ids of the App Home's own buttons. Its approval buttons reuse the agent's ids
 * (`agent-ids.ts`), so a click from the Home is authorised by the same server-side check as one from the card;
 * its Settings button is the settings modal's (`settings-ids.ts`).
 */
import { settingsActionIds } from './settings-ids.ts';

export const homeActionIds = {
  /** Forget a document (admin or uploader only, checked on the work side; the value is the document id). */
  forgetDocument: 'home_forget_document',
  /** Opens the workspace settings modal (handled by the settings capability; shown to admins only). */
  settingsOpen: settingsActionIds.open,
} as const;
