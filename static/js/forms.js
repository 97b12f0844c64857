// Forms and new cards: what htmx cannot do by itself.
// - A card made from the starmap form: close the form, bring the card into view, focus it.
// - A form that comes back with errors: the first field in error (or the form's own error)
//   gets the focus and is scrolled into view, so the button does not seem to do nothing.
// - A menu (Download, More) that would open past the screen's edge opens the other way.
// - Text fields with a limit: a live "12 / 200" counter; past the limit it turns red and
//   says by how much (the server refuses it too), instead of the browser cutting the text.
(function () {
  "use strict";

  document.addEventListener("card-created", function (event) {
    var card = document.getElementById(event.detail && event.detail.id);
    if (!card) return;
    var form = document.querySelector("details.new-starmap");
    if (form) form.open = false;
    card.scrollIntoView({ block: "start", behavior: "auto" });
    card.focus({ preventScroll: true });
  });

  function showFirstError(root) {
    if (!root || !root.querySelector) return;
    var field = root.querySelector(
      ".has-error input:not([type=hidden]), .has-error textarea, .has-error select");
    var target = field || root.querySelector(".errorlist, form [role=alert]");
    if (!target) return;
    for (var open = target.closest("details"); open; open = open.parentElement.closest("details")) {
      open.open = true;  // (an optional field in error sits in a folded part)
    }
    if (!field) target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center", behavior: "auto" });
  }
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;  // a form swapped in with its errors
    if (elt && elt.matches && elt.matches("form")) showFirstError(elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form .has-error, form .errorlist");
    if (form) showFirstError(form.closest("form"));
  });

  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("export-menu")) return;
    var list = menu.querySelector("ul");
    if (!list || !menu.open) return;
    list.classList.remove("menu-from-left");
    if (list.getBoundingClientRect().left < 8) list.classList.add("menu-from-left");
  }, true);

  function update(input) {
    var counter = document.getElementById(input.id + "-counter");
    if (!counter) return;
    var limit = Number(input.dataset.maxlength);
    var used = input.value.length;
    var over = used - limit;
    counter.textContent = over > 0
      ? used.toLocaleString() + " / " + limit.toLocaleString() + ": " + over.toLocaleString() +
        " too many, shorten it"
      : used.toLocaleString() + " / " + limit.toLocaleString();
    counter.classList.toggle("over", over > 0);
    if (over > 0) input.setAttribute("aria-invalid", "true");
    else if (!input.closest(".has-error")) input.removeAttribute("aria-invalid");
  }

  function all(root) {
    (root || document).querySelectorAll("[data-maxlength]").forEach(update);
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target instanceof HTMLElement && target.dataset.maxlength) update(target);
  });
  document.addEventListener("DOMContentLoaded", function () { all(document); });
  document.addEventListener("htmx:load", function (event) { all(event.detail.elt); });
})();
