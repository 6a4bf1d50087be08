/** Waits until `url` answers 2xx, for at most `ms`; says what it last saw when it never did. */
export async function waitUntilHealthy(url: string, ms: number, stepMs = 100): Promise<{ ok: boolean; last: string }> {
  const deadline = Date.now() + ms;
  let last: string;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, stepMs)) });
      if (res.ok) return { ok: true, last: String(res.status) };
      last = `${res.status} ${(await res.text()).slice(0, 300)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= deadline) return { ok: false, last };
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
