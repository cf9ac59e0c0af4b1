/** Seconds elapsed since `t0` (a Date.now() value), to one decimal: for progress lines and figures. */
export function secondsSince(t0: number): number {
  return Math.round((Date.now() - t0) / 100) / 10;
}
