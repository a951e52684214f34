// Tideway console: keeps the live parts of a page current. An element with
// data-live="<url>" is replaced by the HTML the server renders at that URL: when its
// data-follow event stream (server-sent events of the kinds in data-follow-events)
// says something changed, or else every data-every seconds (default 5). A part that
// holds [data-final] is finished and stops. Everything else works without this script.
(function () {
  "use strict";
  function keepCurrent(element) {
    var url = element.getAttribute("data-live");
    var every = Number(element.getAttribute("data-every") || "5") * 1000;
    var loading = false, again = false, finished = false, source = null, timer = null;
    function finish() {
      finished = true;
      if (source) { source.close(); source = null; }
      clearTimeout(timer);
    }
    function load() {
      // Events that arrive while a load is under way are folded into one more load.
      if (loading) { again = true; return; }
      loading = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.redirected || !response.ok) { throw new Error("stopped"); }
          return response.text();
        })
        .then(function (html) {
          element.innerHTML = html;
          if (element.querySelector("[data-final]")) { finish(); }
        })
        .catch(function () { finish(); element.setAttribute("data-live-stopped", ""); })
        .then(function () {
          loading = false;
          if (finished) { return; }
          if (again) { again = false; load(); }
          else if (!source) { timer = setTimeout(load, every); }
        });
    }
    var follow = element.getAttribute("data-follow");
    if (follow && window.EventSource) {
      source = new EventSource(follow);
      (element.getAttribute("data-follow-events") || "message").split(" ").forEach(function (kind) {
        source.addEventListener(kind, load);
      });
      // The stream ends when the run does, or breaks: one more load shows where
      // things stand, and asking every few seconds takes over if it is not finished.
      source.onerror = function () {
        if (source) { source.close(); source = null; }
        if (!finished) { load(); }
      };
    } else {
      timer = setTimeout(load, every);
    }
  }
  document.querySelectorAll("[data-live]").forEach(keepCurrent);
  // Forms that act ask once before they do something that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
