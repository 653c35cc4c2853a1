/**
 * A spend bar drawn in text, for Block Kit (which has no chart element): `▓▓▓▓░░░░░░ 40%`. Pure.
 *
 * Guarantees: always `width` cells (so bars line up in a code span), the share is rounded down so a bar is full
 * only at or past the cap, and a spend past the cap is flagged rather than drawn longer. A cap of zero means
 * "nothing may be spent": any spend is past it.
 */

const filledCell = '▓';
const emptyCell = '░';

/** `spent` against `cap` (both µ$) as a fixed-width bar and a percentage. */
export function spendBar(spentMicroUsd: number, capMicroUsd: number, width = 10): string {
  const spent = Math.max(0, spentMicroUsd);
  if (capMicroUsd <= 0) return `${emptyCell.repeat(width)} ${spent > 0 ? 'over (cap $0)' : 'cap $0'}`;
  const share = spent / capMicroUsd;
  const filled = Math.min(width, Math.floor(share * width));
  const percent = Math.floor(share * 100);
  const bar = `${filledCell.repeat(filled)}${emptyCell.repeat(width - filled)}`;
  return share >= 1 ? `${bar} ${percent}% :warning:` : `${bar} ${percent}%`;
}
