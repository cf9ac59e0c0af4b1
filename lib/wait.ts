// Waits in the Terratest manner: a condition polled with explicit retries, and on failure an
// error that carries the object's real state (a pod's waiting reason, not just "timed out").
export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Polls `check` until it returns a value other than undefined, and returns that value. An
 * exception from `check` counts as "not yet" (the API may be restarting); after the deadline it
 * throws `${what} not reached after N s (M tries): <describe()>`.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: WaitOptions & { describe?: () => Promise<string> },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let tries = 0;
  let lastError = '';
  for (;;) {
    tries++;
    try {
      const value = await check();
      if (value !== undefined) return value;
      lastError = '';
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      const state = opts.describe ? await opts.describe().catch((e: unknown) => `(state unavailable: ${String(e)})`) : '';
      throw new Error(
        `${what} not reached after ${Math.round(opts.timeoutMs / 1000)} s (${tries} tries)${state ? `: ${state}` : ''}${lastError ? ` (last error: ${lastError})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
  }
}
