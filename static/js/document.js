// The document page: Copy Markdown (the clipboard, or the text selected for the reader
// to copy when the browser refuses), Print, and the contents folded on a phone.
(function () {
  "use strict";
  function say(text) {
    const status = document.querySelector(".copy-status");
    if (status) status.textContent = text;
  }
  function fallback(source) {
    source.hidden = false;
    source.focus();
    source.select();
    say("Copying is not allowed here: the Markdown is selected below; press Ctrl+C (⌘C on a Mac).");
  }
  document.addEventListener("click", function (event) {
    const copy = event.target.closest && event.target.closest("[data-copy-markdown]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copyMarkdown);
      if (!source) return;
      if (!navigator.clipboard || !window.isSecureContext) { fallback(source); return; }
      navigator.clipboard.writeText(source.value).then(function () {
        source.hidden = true;
        say("Copied the Markdown to the clipboard.");
      }, function () { fallback(source); });
    }
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });
  document.addEventListener("DOMContentLoaded", function () {
    const toc = document.querySelector("[data-toc]");
    if (toc && window.matchMedia("(max-width: 860px)").matches) toc.open = false;
  });
})();
