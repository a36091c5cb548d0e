/** The delay before the retry that follows failure number `failures` (1 for the first): `initialMs`, doubled per failure before it, at most `maxMs`. */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  // The exponent is capped only so that the product stays finite; maxMs bounds it long before.
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
}
