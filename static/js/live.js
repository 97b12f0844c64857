// The little JavaScript htmx cannot do: (re)subscribe the page's one socket to every
// stream on it, tick elapsed and remaining time between events, keep a running stage's
// box on its newest text, show progress in the tab title (with an optional
// notification when a report is ready), and reload when the socket's access is revoked.
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
  document.addEventListener("htmx:wsClose", function (event) {
    socket = null;
    // 4401: the access that opened the socket was revoked (docs/security.md). Reloading
    // shows the login page, or, when this browser's session is still good (the user
    // changed their own password here), the page again with a live socket. The close
    // can beat the answer that gives this browser its new session cookie: wait a moment.
    if (event.detail.event && event.detail.event.code === 4401) {
      setTimeout(function () { window.location.reload(); }, 1500);
    }
  });
  document.addEventListener("htmx:load", function (event) { subscribeAll(event.detail.elt); });

  // The one rule for durations (reports/domain/formats.py, duration_label).
  function fmt(seconds) {
    if (seconds > 0 && seconds < 0.5) return "< 1 s";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return s === 0 ? m + " min" : m + " min " + String(s).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  const GENERATING = ["pending", "running"];

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-elapsed-since]").forEach(function (el) {
      const since = Date.parse(el.dataset.elapsedSince);
      if (!isNaN(since)) el.textContent = fmt((now - since) / 1000);
    });
    // Work time so far, as rendered, plus the time since (only while a stage runs).
    document.querySelectorAll("[data-elapsed-base]").forEach(function (el) {
      if (!el.dataset.elapsedAt) el.dataset.elapsedAt = String(now);
      const base = parseFloat(el.dataset.elapsedBase);
      el.textContent = fmt(base + (now - parseInt(el.dataset.elapsedAt, 10)) / 1000);
    });
    // The countdown only goes down between events, and stops at what the stages not yet
    // started will take: a running stage that takes longer than expected then says so,
    // instead of a number that stays put ("~2 s" for 13 s).
    document.querySelectorAll("[data-eta]").forEach(function (el) {
      if (!el.dataset.etaAt) el.dataset.etaAt = String(now);
      const floor = parseFloat(el.dataset.etaFloor || "0");
      const left = parseFloat(el.dataset.eta) - (now - parseInt(el.dataset.etaAt, 10)) / 1000;
      if (left > floor) el.textContent = "~" + fmt(left);
      else el.textContent = floor > 0 ? "~" + fmt(floor) + " after this stage" : "finishing this stage";
    });
    // Tokens move while text streams: the finished attempts' count, plus what each
    // running stage has written so far (sent with its text, counted from it).
    document.querySelectorAll("[data-tokens-out][id$='-tokens']").forEach(function (el) {
      const sid = el.id.slice("stream-".length, -"-tokens".length);
      let out = parseInt(el.dataset.tokensOut, 10) || 0;
      document.querySelectorAll('[id^="stream-' + sid + '-live-"]').forEach(function (live) {
        out += parseInt(live.dataset.tokensOut, 10) || 0;
      });
      const shown = el.querySelector(".tokens-out");
      if (shown) shown.textContent = out.toLocaleString("en-US");
    });
    // A running stage past what is usual for it shows "taking longer than usual".
    document.querySelectorAll("[data-slow-after][hidden]").forEach(function (el) {
      const since = Date.parse(el.dataset.slowSince);
      if (!isNaN(since) && (now - since) / 1000 > parseFloat(el.dataset.slowAfter)) el.hidden = false;
    });
    // Page actions that apply only while nothing runs (Regenerate, Change and rerun).
    document.querySelectorAll("[data-idle-actions]").forEach(function (el) {
      const summary = document.getElementById("stream-" + el.dataset.idleActions + "-summary");
      if (summary) el.hidden = GENERATING.indexOf(summary.dataset.status) !== -1;
    });
    // An opt-in browser notification: the button asks for permission.
    document.querySelectorAll("[data-notify-when-ready]").forEach(function (el) {
      el.hidden = !(window.Notification && Notification.permission === "default");
    });
    const root = document.querySelector("[data-page-stream]");
    const id = root && root.dataset.pageStream;
    const summary = id && document.getElementById("stream-" + id + "-summary");
    if (summary) {
      const title = summary.dataset.title || "Report";
      const status = summary.dataset.status;
      if (status === "completed") {
        document.title = "✓ Ready - " + title;
        if (summary.dataset.announced !== "completed") {
          summary.dataset.announced = "completed";
          document.body.dispatchEvent(new CustomEvent("stream-completed", { detail: { id: id } }));
        }
        if (!notified.has(id) && window.Notification && Notification.permission === "granted" && document.hidden) {
          notified.add(id);
          new Notification("Ready: " + title, { body: "Open the tab to read it." });
        }
      } else if (status === "failed") {
        document.title = "Failed - " + title;
      } else if (status === "cancelled") {
        document.title = "Cancelled - " + title;
      } else {
        document.title = summary.dataset.progress + "% - " + title;
      }
    }
  }
  // A running stage's box follows its newest text unless the reader scrolled up in it;
  // "Jump to latest" then brings them back, and the box follows again. Kept by the box's
  // id: the box is replaced when its stage row is rendered again.
  const scrolledAway = new Set();
  const followedTo = {};  // where this script last scrolled each box to
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 24; }
  function showJump(el) {
    const jump = document.querySelector('[data-jump-to="' + el.id + '"]');
    if (jump) jump.hidden = !scrolledAway.has(el.id);
  }
  function follow() {
    document.querySelectorAll(".stage-output.live[id]").forEach(function (el) {
      if (!scrolledAway.has(el.id) && !atBottom(el)) {
        el.scrollTop = el.scrollHeight;
        followedTo[el.id] = el.scrollTop;
      }
      showJump(el);
    });
  }
  document.addEventListener("scroll", function (event) {
    const el = event.target;
    if (!el.classList || !el.classList.contains("live") || !el.id) return;
    if (atBottom(el)) scrolledAway.delete(el.id);
    // Only a move up from where we put it is the reader's: new text below is not.
    else if (!(el.id in followedTo) || el.scrollTop < followedTo[el.id] - 4) scrolledAway.add(el.id);
    showJump(el);
  }, true);
  document.addEventListener("htmx:wsAfterMessage", follow);
  document.addEventListener("htmx:load", follow);
  document.addEventListener("DOMContentLoaded", follow);

  document.addEventListener("click", function (event) {
    const jump = event.target.closest && event.target.closest("[data-jump-to]");
    if (jump) {
      scrolledAway.delete(jump.dataset.jumpTo);
      follow();
      const box = document.getElementById(jump.dataset.jumpTo);
      if (box) box.focus({ preventScroll: true });
    }
    const button = event.target.closest && event.target.closest("[data-notify-when-ready]");
    if (button && window.Notification) Notification.requestPermission().then(tick);
  });
  // Keyboard focus survives a card being replaced (Cancel, Resume, Retry, or the event
  // that ends the stream): the same control if the new card has it, else its first
  // action (Resume after Cancel, Cancel after Resume), else the card's summary.
  let keep = null;
  function remember(event) {
    const target = event.detail && (event.detail.target || event.detail.elt);
    const active = document.activeElement;
    if (!target || !active || active === document.body || !target.contains(active)) return;
    keep = {
      id: target.id,
      label: active.getAttribute("aria-label"),
      action: !!active.closest(".actions") || active.hasAttribute("data-focus-fallback"),
    };
  }
  function restore(event) {
    const target = event.detail && (event.detail.target || event.detail.elt);
    if (!keep || !target || target.id !== keep.id) return;
    const card = document.getElementById(keep.id);
    const wanted = keep;
    keep = null;
    if (!card || card.contains(document.activeElement)) return;
    const same = wanted.label &&
      card.querySelector('[aria-label="' + CSS.escape(wanted.label) + '"]:not([disabled])');
    const action = wanted.action &&
      card.querySelector(".actions button:not([disabled]):not([hidden]), .actions a");
    let next = same || action;
    if (!next) {
      next = card.querySelector(".summary") || card;
      next.setAttribute("tabindex", "-1");
      next.setAttribute("data-focus-fallback", "");
    }
    next.focus({ preventScroll: true });
  }
  document.addEventListener("htmx:beforeSwap", remember);
  document.addEventListener("htmx:oobBeforeSwap", remember);
  document.addEventListener("htmx:afterSwap", restore);
  document.addEventListener("htmx:oobAfterSwap", restore);

  setInterval(tick, 1000);
  document.addEventListener("htmx:wsAfterMessage", tick);
  document.addEventListener("DOMContentLoaded", tick);
})();
