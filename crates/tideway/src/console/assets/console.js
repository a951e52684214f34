// Tideway console: refreshes the live parts of a page in place. An element with
// data-live="<url>" is replaced every data-every seconds (default 5) by the HTML the
// server renders at that URL. Everything else works without this script.
(function () {
  "use strict";
  function refresh(element) {
    var url = element.getAttribute("data-live");
    var every = Number(element.getAttribute("data-every") || "5") * 1000;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.redirected || !response.ok) { throw new Error("stopped"); }
          return response.text();
        })
        .then(function (html) {
          element.innerHTML = html;
          // A part that says it is finished stops asking.
          if (!element.querySelector("[data-final]")) { setTimeout(tick, every); }
        })
        .catch(function () { element.setAttribute("data-live-stopped", ""); });
    }
    setTimeout(tick, every);
  }
  document.querySelectorAll("[data-live]").forEach(refresh);
  // Forms that act ask once before they do something that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
