// The concerts page: the list from GET /api/concerts, each with a link to its waiting room.
"use strict";

(() => {
  const { t } = CQ;
  const list = document.getElementById("concerts");
  const status = document.getElementById("concerts-status");
  const retry = document.getElementById("concerts-retry");

  function concertItem(concert) {
    const item = document.createElement("li");
    item.className = "card";
    const heading = document.createElement("h2");
    heading.textContent = concert.title;
    const byline = document.createElement("p");
    byline.className = "byline";
    byline.textContent = t("concert.byline", { artist: concert.artist, venue: concert.venue });
    const link = document.createElement("a");
    link.className = "button";
    link.href = `/waiting-room/${concert.id}`;
    link.textContent = t("concerts.enter");
    link.setAttribute("aria-label", `${t("concerts.enter")}: ${concert.title}`);
    item.append(heading, byline, link);
    return item;
  }

  async function load() {
    status.textContent = t("concerts.loading");
    status.hidden = false;
    retry.hidden = true;
    let answer = null;
    try {
      answer = await CQ.api("GET", "/api/concerts");
    } catch {
      answer = null;
    }
    if (!answer || answer.status !== 200) {
      status.textContent = answer ? `${t("concerts.error")} (${answer.message})` : t("concerts.error");
      retry.hidden = false;
      return;
    }
    const concerts = answer.body.concerts;
    if (concerts.length === 0) {
      status.textContent = t("concerts.empty");
      return;
    }
    list.replaceChildren(...concerts.map(concertItem));
    list.hidden = false;
    status.hidden = true;
  }

  document.getElementById("retry").addEventListener("click", load);
  load();
})();
