// What every page shares: its strings (in the language the server picked), calls to the
// API with the contract's error envelope and Retry-After, what this tab remembers about a
// concert (queue token, user, the platform's sign-in), and formatting.
"use strict";

const CQ = (() => {
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const lang = document.documentElement.lang || "en";

  /** The string `key` with its `{name}` placeholders filled from `params`. */
  function t(key, params) {
    const text = strings[key];
    if (text === undefined) return key;
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  const numbers = new Intl.NumberFormat(lang);
  const money = (amount) => t("money", { amount: numbers.format(amount) });
  const dateTime = (iso) =>
    new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));

  /** A duration as m:ss (h:mm:ss from an hour up), never negative. */
  function clock(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }

  // Countdowns run on the server's clock (learnt from each answer's Date header), so a
  // wrong clock on this device does not move them; within 2 s the local one is kept.
  let skewMs = 0;
  const now = () => Date.now() + skewMs;
  function learnClock(response) {
    const server = Date.parse(response.headers.get("Date") || "");
    if (Number.isNaN(server)) return;
    const offset = server - Date.now();
    skewMs = Math.abs(offset) > 2000 ? offset : 0;
  }

  /**
   * One API call. Resolves to {status, body, code, message, retryAfterMs}; rejects only
   * when no answer came (network down, server gone).
   */
  async function api(method, path, { bearer, body, headers } = {}) {
    const sent = { Accept: "application/json", ...headers };
    if (bearer) sent.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
    learnClock(response);
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const error = data && data.error ? data.error : null;
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    return {
      status: response.status,
      body: data,
      code: error ? error.code : null,
      message: error ? error.message : `HTTP ${response.status}`,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : null,
    };
  }

  // What this tab remembers, per concert: a new tab starts with nothing.
  function remember(concertId, name, value) {
    try {
      if (value === null || value === undefined) sessionStorage.removeItem(`cq:${concertId}:${name}`);
      else sessionStorage.setItem(`cq:${concertId}:${name}`, String(value));
    } catch {
      // Storage refused (private mode, quota): the page still works until it is left.
    }
  }
  function recall(concertId, name) {
    try {
      return sessionStorage.getItem(`cq:${concertId}:${name}`);
    } catch {
      return null;
    }
  }

  /** The platform's sign-in (a JWT) given in this URL's fragment as #jwt=..., or remembered. */
  function platformJwt() {
    const match = /(?:^#|&)jwt=([^&]+)/.exec(location.hash);
    if (match) {
      const jwt = decodeURIComponent(match[1]);
      remember("platform", "jwt", jwt);
      // The sign-in leaves the address bar and the history at once.
      history.replaceState(null, "", location.pathname + location.search);
      return jwt;
    }
    return recall("platform", "jwt");
  }

  /** The concert id at the end of this page's path (/waiting-room/7, /book/7). */
  function concertIdFromPath() {
    const match = /\/(\d+)\/?$/.exec(location.pathname);
    return match ? Number(match[1]) : null;
  }

  /** Fills the page's title and byline from GET /api/concerts/{id}. */
  async function showConcert(concertId) {
    const title = document.getElementById("concert-title");
    title.textContent = t("concert.fallback", { id: concertId });
    try {
      const answer = await api("GET", `/api/concerts/${concertId}`);
      if (answer.status !== 200) return;
      title.textContent = answer.body.title;
      document.title = `${answer.body.title} · ${document.title}`;
      if (answer.body.artist || answer.body.venue) {
        const byline = document.getElementById("concert-byline");
        byline.textContent = t("concert.byline", { artist: answer.body.artist, venue: answer.body.venue });
        byline.hidden = false;
      }
    } catch {
      // The fallback title stays.
    }
  }

  /** Shows `text` in the page's status line (kind: "", "error" or "success"). */
  function notify(text, kind = "") {
    const notice = document.getElementById("notice");
    notice.textContent = text || "";
    notice.className = `notice ${kind}`.trim();
  }

  /** A random UUID (v4), for Idempotency-Key; works on plain http too. */
  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** The wait before retrying after a 429/503 answer or a lost connection (tries from 1). */
  function retryDelay(answer, tries) {
    if (answer && answer.retryAfterMs !== null) return Math.max(1000, answer.retryAfterMs);
    return Math.min(30000, 1000 * 2 ** Math.min(tries, 5));
  }

  return {
    t,
    lang,
    money,
    dateTime,
    clock,
    now,
    api,
    remember,
    recall,
    platformJwt,
    concertIdFromPath,
    showConcert,
    notify,
    uuid,
    sleep,
    retryDelay,
  };
})();
