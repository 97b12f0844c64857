// The little JavaScript htmx cannot do: (re)subscribe the page's one socket to every
// stream on it, tick elapsed and remaining time between events, and show progress in
// the tab title (with an optional notification when a report is ready).
(function () {
  "use strict";
  let socket = null;
  const notified = new Set();

  function subscribeAll(root) {
    if (!socket) return;
    const scope = root || document;
    const els = scope.querySelectorAll ? scope.querySelectorAll("[data-live-stream]") : [];
    const all = scope.matches && scope.matches("[data-live-stream]") ? [scope, ...els] : els;
    all.forEach(function (el) {
      socket.send(JSON.stringify({ subscribe: el.dataset.liveStream }));
    });
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    subscribeAll(document);
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; });
  document.addEventListener("htmx:load", function (event) { subscribeAll(event.detail.elt); });

  function fmt(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + " min " + String(s).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-elapsed-since]").forEach(function (el) {
      const since = Date.parse(el.dataset.elapsedSince);
      if (!isNaN(since)) el.textContent = fmt((now - since) / 1000);
    });
    document.querySelectorAll("[data-eta]").forEach(function (el) {
      if (!el.dataset.etaAt) el.dataset.etaAt = String(now);
      const left = parseFloat(el.dataset.eta) - (now - parseInt(el.dataset.etaAt, 10)) / 1000;
      el.textContent = left > 0 ? "~" + fmt(left) : "almost done";
    });
    // A running stage past its historical p95 shows "taking longer than usual".
    document.querySelectorAll("[data-slow-after][hidden]").forEach(function (el) {
      const since = Date.parse(el.dataset.slowSince);
      if (!isNaN(since) && (now - since) / 1000 > parseFloat(el.dataset.slowAfter)) el.hidden = false;
    });
    const root = document.querySelector("[data-page-stream]");
    const id = root && root.dataset.pageStream;
    const summary = id && document.getElementById("stream-" + id + "-summary");
    if (summary) {
      const title = summary.dataset.title || "Report";
      const status = summary.dataset.status;
      if (status === "completed") {
        document.title = "✓ " + title;
        if (summary.dataset.announced !== "completed") {
          summary.dataset.announced = "completed";
          document.body.dispatchEvent(new CustomEvent("stream-completed", { detail: { id: id } }));
        }
        if (!notified.has(id) && window.Notification && Notification.permission === "granted" && document.hidden) {
          notified.add(id);
          new Notification("Report ready", { body: title });
        }
      } else if (status === "failed") {
        document.title = "Failed - " + title;
      } else {
        document.title = summary.dataset.progress + "% - " + title;
      }
    }
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:wsAfterMessage", tick);
  document.addEventListener("DOMContentLoaded", tick);
})();
