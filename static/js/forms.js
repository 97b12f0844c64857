// Forms and new cards: what htmx cannot do by itself.
// - A card made from the starmap form: close the form, bring the card into view, focus it.
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
