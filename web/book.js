// The seats: with this tab's ACTIVE queue token, the concert's schedules and the live seat
// map (refreshed while the page is open), holding a seat with its expiry countdown, paying
// it, and (for the demo) charging the wallet. When the token is no longer ACTIVE the page
// says so and leads back to the waiting room.
"use strict";

(() => {
  const { t } = CQ;
  /** How often the seat map is read again while the page is open. */
  const SEAT_REFRESH_MS = 2000;
  /** What the demo's charge button adds to the wallet. */
  const CHARGE_AMOUNT = 200000;

  const $ = (id) => document.getElementById(id);
  const concertId = CQ.concertIdFromPath();
  const token = CQ.recall(concertId, "token");
  const userId = CQ.recall(concertId, "user");
  const jwt = CQ.platformJwt();

  let schedules = [];
  let scheduleId = null;
  const seatButtons = new Map();
  let seatPrices = new Map();
  let selected = null;
  /** The seat the arrow keys last moved to. */
  let current = null;
  /** This tab's live hold: {reservationId, scheduleId, seatNo, price, expiresAt}. */
  let hold = JSON.parse(CQ.recall(concertId, "hold") || "null");
  let mapTimer = null;
  let turnTimer = null;
  let holdTimer = null;
  /** True once the turn is over or the seat is bought: nothing refreshes any more. */
  let over = false;

  function stopTimers() {
    clearTimeout(mapTimer);
    clearInterval(turnTimer);
    clearInterval(holdTimer);
  }

  function remember(next) {
    hold = next;
    CQ.remember(concertId, "hold", next ? JSON.stringify(next) : null);
  }

  /** The page's end when booking is not possible: why, and the way back to the line. */
  function gone(headingKey, leadKey) {
    over = true;
    stopTimers();
    $("view-booking").hidden = true;
    $("turn").hidden = true;
    $("gone-heading").textContent = t(headingKey);
    $("gone-lead").textContent = t(leadKey);
    $("view-gone").hidden = false;
    $("gone-heading").focus({ preventScroll: true });
  }

  function goneFor(status) {
    if (status === "WAITING" || status === "PRE_QUEUE") return gone("book.notYet.heading", "book.notYet.lead");
    if (status === "SOLD_OUT") return gone("wr.soldout.heading", "wr.soldout.lead");
    return gone("book.ended.heading", "book.ended.lead");
  }

  /** GET /api/queue/status, waiting out a busy server; null when the page has ended. */
  async function queueStatus() {
    for (let tries = 1; ; tries += 1) {
      let answer = null;
      try {
        answer = await CQ.api("GET", "/api/queue/status", { bearer: token });
      } catch {
        answer = null;
      }
      if (answer && answer.status === 200) {
        CQ.notify("");
        return answer.body;
      }
      if (answer && answer.status === 401) {
        gone("book.noToken.heading", "book.noToken.lead");
        return null;
      }
      const delay = CQ.retryDelay(answer, tries);
      CQ.notify(t(answer ? "busy" : "offline", { seconds: Math.ceil(delay / 1000) }), "error");
      await CQ.sleep(delay);
    }
  }

  /** Asks whether the turn is still on; ends the page when it is not. */
  async function checkTurn() {
    if (over) return;
    const state = await queueStatus();
    if (!state || over) return;
    if (state.status !== "ACTIVE") return goneFor(state.status);
    startTurn(Date.parse(state.expiresAt));
    refreshSeats();
  }

  function startTurn(expiresMs) {
    clearInterval(turnTimer);
    $("turn").hidden = false;
    const tick = () => {
      const left = expiresMs - CQ.now();
      $("turn-left").textContent = CQ.clock(left);
      if (left <= 0) {
        clearInterval(turnTimer);
        checkTurn();
      }
    };
    tick();
    turnTimer = setInterval(tick, 250);
  }

  /** A call the buyer asked for: null (and a message) when no usable answer came. */
  async function call(method, path, options) {
    let answer = null;
    try {
      answer = await CQ.api(method, path, options);
    } catch {
      CQ.notify(t("noAnswer"), "error");
      return null;
    }
    if (answer.status === 429 || answer.status === 503) {
      const delay = CQ.retryDelay(answer, 1);
      CQ.notify(t("busy", { seconds: Math.ceil(delay / 1000) }), "error");
      return null;
    }
    return answer;
  }

  /** A refusal of a hold or a payment, said in the buyer's words. */
  function refused(answer) {
    if (answer.status === 401 || answer.code === "TOKEN_NOT_ACTIVE") return checkTurn();
    if (answer.code === "HOLD_EXPIRED") {
      remember(null);
      showPick();
      refreshSeats();
    }
    if (answer.code === "SEAT_UNAVAILABLE") {
      select(null);
      refreshSeats();
    }
    const known = `book.err.${answer.code}`;
    const text = t(known) === known ? t("error.generic", { message: answer.message }) : t(known);
    CQ.notify(text, "error");
  }

  function busy(button, on, label) {
    button.disabled = on;
    button.textContent = label;
  }

  // --- schedules ----------------------------------------------------------------------

  function scheduleLabel(schedule) {
    return schedule.availableSeats > 0
      ? t("book.seatsLeft", { count: schedule.availableSeats })
      : t("book.noSeatsLeft");
  }

  function renderSchedules() {
    const group = $("schedules");
    group.replaceChildren(
      ...schedules.map((schedule) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "schedule";
        button.setAttribute("role", "radio");
        button.dataset.schedule = String(schedule.id);
        const when = document.createElement("span");
        when.textContent = CQ.dateTime(schedule.startsAt);
        const left = document.createElement("small");
        left.textContent = scheduleLabel(schedule);
        button.append(when, left);
        button.addEventListener("click", () => chooseSchedule(schedule.id));
        return button;
      }),
    );
    markSchedule();
  }

  /** The chosen schedule is checked and is the group's one tab stop (arrows move within). */
  function markSchedule() {
    for (const button of $("schedules").children) {
      const checked = Number(button.dataset.schedule) === scheduleId;
      button.setAttribute("aria-checked", String(checked));
      button.tabIndex = checked ? 0 : -1;
    }
  }

  function chooseSchedule(id) {
    if (id === scheduleId) return;
    scheduleId = id;
    markSchedule();
    select(null);
    seatButtons.clear();
    $("seats").replaceChildren();
    $("seats-loading").hidden = false;
    refreshSeats();
  }

  $("schedules").addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (!step || schedules.length === 0) return;
    event.preventDefault();
    const at = schedules.findIndex((s) => s.id === scheduleId);
    const next = schedules[(at + step + schedules.length) % schedules.length];
    chooseSchedule(next.id);
    $("schedules").querySelector(`[data-schedule="${next.id}"]`).focus();
  });

  async function loadSchedules() {
    for (let tries = 1; ; tries += 1) {
      let answer = null;
      try {
        answer = await CQ.api("GET", `/api/concerts/${concertId}/schedules`);
      } catch {
        answer = null;
      }
      if (answer && answer.status === 200) {
        CQ.notify("");
        schedules = answer.body.schedules;
        break;
      }
      if (answer && answer.status === 404) {
        gone("wr.notFound", "book.noToken.lead");
        return;
      }
      const delay = CQ.retryDelay(answer, tries);
      CQ.notify(t(answer ? "busy" : "offline", { seconds: Math.ceil(delay / 1000) }), "error");
      await CQ.sleep(delay);
    }
    const open = schedules.find((s) => s.availableSeats > 0) || schedules[0];
    scheduleId = hold ? hold.scheduleId : open ? open.id : null;
    renderSchedules();
  }

  // --- the seat map -------------------------------------------------------------------

  async function refreshSeats() {
    clearTimeout(mapTimer);
    if (over || scheduleId === null) return;
    const forSchedule = scheduleId;
    let answer = null;
    try {
      answer = await CQ.api("GET", `/api/schedules/${forSchedule}/seats`, { bearer: token });
    } catch {
      answer = null;
    }
    if (over) return;
    if (answer && (answer.status === 401 || answer.code === "TOKEN_NOT_ACTIVE")) return checkTurn();
    if (answer && answer.status === 200 && forSchedule === scheduleId) renderSeats(answer.body);
    const wait = answer && answer.retryAfterMs ? Math.max(answer.retryAfterMs, SEAT_REFRESH_MS) : SEAT_REFRESH_MS;
    mapTimer = setTimeout(refreshSeats, wait);
  }

  function seatStatus(seat) {
    const mine = hold && hold.scheduleId === scheduleId && hold.seatNo === seat.seatNo;
    return mine && seat.status === "HELD" ? "MINE" : seat.status;
  }

  function renderSeats(map) {
    $("seats-loading").hidden = true;
    seatPrices = new Map(map.seats.map((seat) => [seat.seatNo, seat.price]));
    const grid = $("seats");
    for (const seat of map.seats) {
      let button = seatButtons.get(seat.seatNo);
      if (!button) {
        button = document.createElement("button");
        button.type = "button";
        button.textContent = String(seat.seatNo);
        button.dataset.seat = String(seat.seatNo);
        button.addEventListener("click", () => select(seat.seatNo));
        seatButtons.set(seat.seatNo, button);
        grid.append(button);
      }
      const status = seatStatus(seat);
      const open = status === "AVAILABLE" && !hold;
      if (!open && document.activeElement === button) $("seatmap-heading").focus();
      button.className = `seat seat-${status.toLowerCase()}`;
      button.dataset.status = status;
      button.disabled = !open;
      const label = t("seat.label", { seat: seat.seatNo, price: CQ.money(seat.price), status: t(`status.${status}`) });
      button.setAttribute("aria-label", label);
      button.title = label;
      if (open) button.setAttribute("aria-pressed", String(selected === seat.seatNo));
      else button.removeAttribute("aria-pressed");
      if (selected === seat.seatNo && status !== "AVAILABLE") {
        select(null);
        CQ.notify(t("book.err.SEAT_UNAVAILABLE"), "error");
      }
    }
    setTabStop();
    const schedule = schedules.find((s) => s.id === map.scheduleId);
    if (schedule && schedule.availableSeats !== map.availableSeats) {
      schedule.availableSeats = map.availableSeats;
      const button = $("schedules").querySelector(`[data-schedule="${schedule.id}"] small`);
      if (button) button.textContent = scheduleLabel(schedule);
    }
  }

  /**
   * The seat map is one tab stop: the chosen seat, else the one last moved to, else the
   * first open one; the arrow keys (and Home, End) move between open seats.
   */
  function setTabStop() {
    const open = [...seatButtons.values()].filter((button) => !button.disabled);
    const at = (seatNo) => open.find((button) => Number(button.dataset.seat) === seatNo);
    const stop = at(selected) || at(current) || open[0];
    for (const button of seatButtons.values()) button.tabIndex = button === stop ? 0 : -1;
  }

  $("seats").addEventListener("keydown", (event) => {
    const buttons = [...seatButtons.values()];
    const from = buttons.indexOf(document.activeElement);
    if (from < 0) return;
    const columns = buttons.filter((button) => button.offsetTop === buttons[0].offsetTop).length || 1;
    const steps = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -buttons.length, End: buttons.length };
    const step = steps[event.key];
    if (!step) return;
    event.preventDefault();
    const open = (i) => i >= 0 && i < buttons.length && !buttons[i].disabled;
    let target = -1;
    if (Math.abs(step) === buttons.length) {
      const order = [...buttons.keys()];
      target = (step > 0 ? order.reverse() : order).find(open) ?? -1;
    } else {
      for (let i = from + step; i >= 0 && i < buttons.length; i += step) {
        if (open(i)) {
          target = i;
          break;
        }
      }
    }
    if (target < 0) return;
    current = Number(buttons[target].dataset.seat);
    setTabStop();
    buttons[target].focus();
  });

  function select(seatNo) {
    selected = seatNo;
    if (seatNo !== null) current = seatNo;
    for (const [no, button] of seatButtons) {
      if (button.hasAttribute("aria-pressed")) button.setAttribute("aria-pressed", String(no === seatNo));
    }
    setTabStop();
    const chosen = seatNo !== null;
    $("selected").hidden = !chosen;
    $("hold").hidden = !chosen;
    if (chosen) {
      $("selected").textContent = t("book.selected", { seat: seatNo, price: CQ.money(seatPrices.get(seatNo)) });
      CQ.notify("");
    }
  }

  // --- hold, pay, release -------------------------------------------------------------

  function showPick() {
    clearInterval(holdTimer);
    $("held").hidden = true;
    $("pick").hidden = false;
    select(null);
  }

  function showHeld() {
    $("pick").hidden = true;
    $("held").hidden = false;
    $("held-heading").textContent = t("book.held.heading", { seat: hold.seatNo });
    $("pay").textContent = t("book.pay", { price: CQ.money(hold.price) });
    const expiresMs = Date.parse(hold.expiresAt);
    clearInterval(holdTimer);
    const tick = () => {
      const left = expiresMs - CQ.now();
      $("held-left").textContent = CQ.clock(left);
      if (left <= 0) {
        clearInterval(holdTimer);
        remember(null);
        showPick();
        CQ.notify(t("book.err.HOLD_EXPIRED"), "error");
        refreshSeats();
      }
    };
    tick();
    holdTimer = setInterval(tick, 250);
  }

  $("hold").addEventListener("click", async () => {
    if (selected === null || hold) return;
    const seatNo = selected;
    busy($("hold"), true, t("book.holding"));
    const answer = await call("POST", "/api/reservations", { bearer: token, body: { scheduleId, seatNo } });
    busy($("hold"), false, t("book.hold"));
    if (!answer) return;
    if (answer.status !== 201 && answer.status !== 200) return refused(answer);
    const { reservationId, price, expiresAt } = answer.body;
    remember({ reservationId, scheduleId, seatNo, price, expiresAt });
    select(null);
    CQ.notify("");
    showHeld();
    $("held-heading").focus({ preventScroll: true });
    refreshSeats();
  });

  $("pay").addEventListener("click", async () => {
    if (!hold) return;
    busy($("pay"), true, t("book.paying"));
    const answer = await call("POST", "/api/payments", { bearer: token, body: { reservationId: hold.reservationId } });
    busy($("pay"), false, t("book.pay", { price: CQ.money(hold.price) }));
    if (!answer) return;
    if (answer.status !== 201 && answer.status !== 200) return refused(answer);
    confirmed(answer.body);
  });

  $("release").addEventListener("click", async () => {
    if (!hold) return;
    const { reservationId, seatNo } = hold;
    const answer = await call("DELETE", `/api/reservations/${encodeURIComponent(reservationId)}`, { bearer: token });
    if (!answer) return;
    if (answer.status !== 204) return refused(answer);
    remember(null);
    showPick();
    CQ.notify(t("book.released", { seat: seatNo }), "success");
    refreshSeats();
  });

  function confirmed(payment) {
    over = true;
    stopTimers();
    const seatNo = hold.seatNo;
    remember(null);
    $("view-booking").hidden = true;
    $("turn").hidden = true;
    CQ.notify("");
    $("confirmed-heading").textContent = t("book.confirmed.heading", { seat: seatNo });
    $("confirmed-lead").textContent = t("book.confirmed.lead", {
      payment: payment.paymentId,
      amount: CQ.money(payment.amount),
      balance: CQ.money(payment.balance),
    });
    $("view-confirmed").hidden = false;
    $("confirmed-heading").focus({ preventScroll: true });
  }

  /** Reads the remembered hold again: it may have been paid, released or lapsed meanwhile. */
  async function resumeHold() {
    let answer = null;
    try {
      answer = await CQ.api("GET", `/api/reservations/${encodeURIComponent(hold.reservationId)}`, { bearer: token });
    } catch {
      return showHeld();
    }
    if (answer.status === 200 && answer.body.status === "HELD") {
      remember({ ...hold, expiresAt: answer.body.expiresAt });
      return showHeld();
    }
    remember(null);
  }

  // --- the wallet (for the demo) ------------------------------------------------------

  const walletPath = `/api/users/${userId}/balance`;

  async function loadBalance() {
    try {
      const answer = await CQ.api("GET", walletPath, { bearer: jwt || undefined });
      if (answer.status === 200) $("balance").textContent = CQ.money(answer.body.balance);
    } catch {
      // The balance stays unknown until the next charge.
    }
  }

  $("charge").addEventListener("click", async () => {
    const button = $("charge");
    busy(button, true, t("book.charging"));
    // One key for this charge: a retry after a lost answer charges once.
    const headers = { "Idempotency-Key": CQ.uuid() };
    let answer = null;
    for (let tries = 1; tries <= 3 && !answer; tries += 1) {
      answer = await call("POST", `${walletPath}/charge`, { bearer: jwt || undefined, body: { amount: CHARGE_AMOUNT }, headers });
      if (!answer && tries < 3) await CQ.sleep(1000 * tries);
    }
    busy(button, false, t("book.charge", { amount: CQ.money(CHARGE_AMOUNT) }));
    if (!answer) return;
    if (answer.status !== 200) return CQ.notify(t("error.generic", { message: answer.message }), "error");
    $("balance").textContent = CQ.money(answer.body.balance);
    CQ.notify(t("book.charged", { balance: CQ.money(answer.body.balance) }), "success");
  });

  // --- start --------------------------------------------------------------------------

  async function start() {
    $("to-waiting-room").href = `/waiting-room/${concertId}`;
    $("charge").textContent = t("book.charge", { amount: CQ.money(CHARGE_AMOUNT) });
    if (concertId === null) return gone("wr.notFound", "book.noToken.lead");
    CQ.showConcert(concertId);
    if (!token || !userId) return gone("book.noToken.heading", "book.noToken.lead");
    const state = await queueStatus();
    if (!state) return;
    if (state.status !== "ACTIVE") return goneFor(state.status);
    startTurn(Date.parse(state.expiresAt));
    $("view-booking").hidden = false;
    loadBalance();
    if (hold) await resumeHold();
    await loadSchedules();
    if (!over) refreshSeats();
  }

  start();
})();
