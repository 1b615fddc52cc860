// The waiting room: joins the concert's line (with a user id, or with the platform's JWT
// from #jwt=), then polls its status as the server advises (pollAfterMs, Retry-After):
// the pre-queue's countdown, the position, the estimated wait and the progress, and when
// the turn comes it moves on to /book/{concertId} by itself.
"use strict";

(() => {
  const { t } = CQ;
  /** The poll interval when an answer carries no pollAfterMs. */
  const DEFAULT_POLL_MS = 2000;
  const MIN_POLL_MS = 500;
  const MAX_POLL_MS = 600000;
  const VIEWS = ["join", "waiting", "prequeue", "active", "expired", "soldout", "problem"];
  const MAX_USER_ID = 2 ** 53 - 1;

  const $ = (id) => document.getElementById(id);
  const concertId = CQ.concertIdFromPath();
  const jwt = CQ.platformJwt();
  let view = null;
  let pollTimer = null;
  let countdownTimer = null;
  let failures = 0;
  let joining = false;

  function showView(name) {
    if (view === name) return;
    const first = view === null;
    view = name;
    for (const each of VIEWS) $(`view-${each}`).hidden = each !== name;
    if (name !== "prequeue") clearInterval(countdownTimer);
    // A new state: its heading takes the focus, so a screen reader reads it out.
    if (!first && name !== "join") $(`view-${name}`).querySelector("h2").focus({ preventScroll: true });
  }

  /** Says `text` to screen readers (once: the same text again is not repeated). */
  function announce(text) {
    const region = $("announce");
    if (region.textContent !== text) region.textContent = text;
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    clearInterval(countdownTimer);
  }

  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }

  /** The server's advice for the next poll, or the default when it gives none. */
  function advisedDelay(state) {
    const advised = Number(state.pollAfterMs);
    if (!Number.isFinite(advised) || advised <= 0) return DEFAULT_POLL_MS;
    return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, advised));
  }

  function forgetPlace() {
    CQ.remember(concertId, "token", null);
    CQ.remember(concertId, "first", null);
  }

  /** Shows a queue state, from joining or from a status poll. */
  function show(state) {
    failures = 0;
    CQ.notify("");
    switch (state.status) {
      case "WAITING":
        return showWaiting(state);
      case "PRE_QUEUE":
        return showPreQueue(state);
      case "ACTIVE":
        return moveOn();
      case "EXPIRED":
        stopPolling();
        showView("expired");
        return announce(t("wr.expired.heading"));
      case "SOLD_OUT":
        return showSoldOut();
      default:
        stopPolling();
        return problem(t("error.generic", { message: state.status }));
    }
  }

  function waitText(seconds) {
    if (typeof seconds !== "number") return t("wr.wait.unknown");
    if (seconds < 60) return t("wr.wait.underMinute");
    return t("wr.wait.minutes", { minutes: Math.ceil(seconds / 60) });
  }

  function showWaiting(state) {
    const position = state.position;
    // Progress counts from the place this tab first had in this line.
    let first = Number(CQ.recall(concertId, "first"));
    if (!first || position > first) {
      first = position;
      CQ.remember(concertId, "first", first);
    }
    const percent = Math.round((100 * (first - position)) / first);
    $("position").textContent = String(position);
    $("wait").textContent = waitText(state.estimatedWaitSeconds);
    const bar = $("progress");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", t("wr.progress.text", { position, first }));
    $("progress-fill").style.width = `${percent}%`;
    showView("waiting");
    announce(t("wr.announce.position", { position }));
    schedulePoll(advisedDelay(state));
  }

  function showPreQueue(state) {
    const opensAtMs = Date.parse(state.opensAt);
    const time = CQ.dateTime(state.opensAt);
    $("opens-at").textContent = t("wr.prequeue.opensAt", { time });
    clearInterval(countdownTimer);
    const tick = () => {
      $("opens-in").textContent = CQ.clock(opensAtMs - CQ.now());
    };
    tick();
    countdownTimer = setInterval(tick, 250);
    showView("prequeue");
    announce(t("wr.announce.prequeue", { time }));
    // Around the opening, look again soon after it (spread out, and not so much sooner
    // than advised that the server would call it too eager).
    let delay = advisedDelay(state);
    const untilOpen = opensAtMs - CQ.now();
    if (untilOpen >= 0 && untilOpen < delay) {
      delay = Math.max(untilOpen + 250 + Math.random() * 1000, delay * 0.6);
    }
    schedulePoll(delay);
  }

  function moveOn() {
    stopPolling();
    CQ.remember(concertId, "first", null);
    const seats = `/book/${concertId}`;
    $("to-seats").href = seats;
    showView("active");
    announce(t("wr.active.heading"));
    location.assign(seats);
  }

  function showSoldOut() {
    stopPolling();
    forgetPlace();
    showView("soldout");
    announce(t("wr.soldout.heading"));
  }

  function problem(text) {
    $("problem").textContent = text;
    showView("problem");
  }

  /** Waits out a busy server (429/503, by its Retry-After) or a lost connection. */
  async function waitOut(answer, tries) {
    const delay = CQ.retryDelay(answer, tries);
    CQ.notify(t(answer ? "busy" : "offline", { seconds: Math.ceil(delay / 1000) }));
    await CQ.sleep(delay);
  }

  /** The user id typed in the form, or null (the form then says what is wrong). */
  function typedUserId() {
    const input = $("user-id");
    const raw = input.value.trim();
    const valid = /^[1-9][0-9]{0,15}$/.test(raw) && Number(raw) <= MAX_USER_ID;
    input.setAttribute("aria-invalid", String(!valid));
    input.setAttribute("aria-describedby", valid ? "user-id-help" : "user-id-error user-id-help");
    $("user-id-error").hidden = valid;
    if (!valid) {
      input.focus();
      return null;
    }
    return Number(raw);
  }

  function setJoining(on) {
    joining = on;
    for (const button of [$("join"), $("rejoin")]) {
      button.disabled = on;
    }
    $("join").textContent = t(on ? "wr.joining" : "wr.join");
  }

  /** POST /api/queue/token: with the JWT and no userId in jwt mode, else with `userId`. */
  async function join(userId) {
    if (joining) return;
    setJoining(true);
    const body = jwt ? { concertId } : { userId, concertId };
    for (let tries = 1; ; tries += 1) {
      let answer = null;
      try {
        answer = await CQ.api("POST", "/api/queue/token", { bearer: jwt || undefined, body });
      } catch {
        answer = null;
      }
      if (answer && (answer.status === 200 || answer.status === 201)) {
        CQ.remember(concertId, "token", answer.body.token);
        CQ.remember(concertId, "user", answer.body.userId);
        setJoining(false);
        return show(answer.body);
      }
      if (!answer || answer.status === 429 || answer.status >= 500) {
        await waitOut(answer, tries);
        continue;
      }
      setJoining(false);
      CQ.notify("");
      if (answer.code === "SOLD_OUT") return showSoldOut();
      if (answer.code === "CONCERT_NOT_FOUND") return problem(t("wr.notFound"));
      if (answer.status === 401) return problem(t("wr.signIn"));
      if (answer.status === 403) return problem(t("wr.forbidden"));
      return problem(t("error.generic", { message: answer.message }));
    }
  }

  /** GET /api/queue/status with this tab's queue token. */
  async function poll() {
    const token = CQ.recall(concertId, "token");
    if (!token) return start();
    let answer = null;
    try {
      answer = await CQ.api("GET", "/api/queue/status", { bearer: token });
    } catch {
      answer = null;
    }
    if (answer && answer.status === 200) return show(answer.body);
    if (!answer || answer.status === 429 || answer.status >= 500) {
      failures += 1;
      const delay = CQ.retryDelay(answer, failures);
      CQ.notify(t(answer ? "busy" : "offline", { seconds: Math.ceil(delay / 1000) }));
      return schedulePoll(delay);
    }
    if (answer.status === 401) {
      // This server does not know the token (its secret changed): take a new place.
      forgetPlace();
      return start();
    }
    return problem(t("error.generic", { message: answer.message }));
  }

  /** Resumes this tab's place in line, or joins (jwt mode), or asks for a user id. */
  function start() {
    if (CQ.recall(concertId, "token")) return poll();
    if (jwt) return join();
    $("user-id").value = CQ.recall(concertId, "user") || "";
    showView("join");
  }

  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const userId = typedUserId();
    if (userId !== null) join(userId);
  });

  $("rejoin").addEventListener("click", () => {
    forgetPlace();
    const userId = Number(CQ.recall(concertId, "user"));
    if (jwt || userId) {
      join(userId);
    } else {
      showView("join");
    }
  });

  if (concertId === null) {
    problem(t("wr.notFound"));
  } else {
    CQ.showConcert(concertId);
    start();
  }
})();
