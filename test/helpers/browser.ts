/**
 * A browser as far as the app's flows need one: a cookie jar per host (Max-Age=0 deletes), manual
 * redirects, and the headers a browser adds (Sec-Fetch-Site) when the test says where a request
 * comes from.
 */
export class Browser {
  private readonly jars = new Map<string, Map<string, string>>();

  cookies(url: string): Map<string, string> {
    const host = new URL(url).host;
    let jar = this.jars.get(host);
    if (!jar) this.jars.set(host, (jar = new Map<string, string>()));
    return jar;
  }

  async fetch(url: string, init: RequestInit & { site?: 'same-origin' | 'cross-site' | 'none' } = {}): Promise<Response> {
    const jar = this.cookies(url);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    if (init.site) headers.set('sec-fetch-site', init.site);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const [name, ...value] = pair.trim().split('=');
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) jar.delete(name);
      else jar.set(name, value.join('='));
    }
    return res;
  }

  /**
   * Signs `user` in to the app at `api` through the sandbox's sign-in page (at `sandbox`), as a
   * browser would; answers the app's last redirect.
   */
  async signIn(api: string, sandbox: string, user: string, returnTo = '/api/auth/me'): Promise<Response> {
    const { res: toEntra, url: authorize } = await this.follow(`${api}/auth/signin?returnTo=${encodeURIComponent(returnTo)}`, (u) =>
      u.startsWith(sandbox),
    );
    expect(toEntra.status).toBe(302);
    const page = await this.fetch(authorize);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(user);
    const chosen = await this.fetch(authorize, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user }).toString(),
    });
    expect(chosen.status).toBe(302);
    return this.fetch(chosen.headers.get('location')!, { site: 'cross-site' });
  }

  /** Follows redirects (GET) from `url`, stopping at the first answer that is not one or whose URL `stop` matches. */
  async follow(url: string, stop: (url: string) => boolean = () => false): Promise<{ res: Response; url: string }> {
    let current = url;
    for (let i = 0; i < 10; i++) {
      const res = await this.fetch(current, { site: 'cross-site' });
      const next = res.headers.get('location');
      if (!next || res.status < 300 || res.status > 399) return { res, url: current };
      current = new URL(next, current).toString();
      if (stop(current)) return { res, url: current };
    }
    throw new Error(`Too many redirects from ${url}`);
  }
}
