/**
 * Money as people read it in Slack: every amount Deskhand shows (budgets, warnings and refusals, an answer's
 * cost, an agent run's cost and bounds) is formatted here, from integer micro-dollars (µ$).
 *
 * Guarantees: nothing reads "$0.00" but zero; a non-zero amount below $0.0001 reads "< $0.0001"; other amounts
 * below a cent keep four decimals ("$0.0015"), the rest two ("$1.23").
 */

/** µ$ → a dollar string: 0 → "$0.00", 50 → "< $0.0001", 1500 → "$0.0015", 1234567 → "$1.23". */
export function formatMicroUsd(micro: number): string {
  if (micro === 0) return '$0.00';
  if (micro > 0 && micro < 100) return '< $0.0001';
  const dollars = micro / 1_000_000;
  if (Math.abs(dollars) < 0.01) return `$${dollars.toFixed(4)}`;
  return `$${dollars.toFixed(2)}`;
}
