// Herald's dashboard works without this script; it adds copy buttons,
// confirmations and live regions.
(function () {
  "use strict";

  // Copy buttons: data-copy names the element whose value or text to copy.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el) return;
    var text = el.value !== undefined && el.tagName === "INPUT" ? el.value : el.textContent;
    var done = function () {
      var old = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = old; }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { el.select && el.select(); });
    } else if (el.select) {
      el.select();
      document.execCommand("copy");
      done();
    }
  });

  // Forms with data-confirm ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);

  // Live regions: an element with an id and data-live="<seconds>" is
  // refreshed from the same page while it is visible, keeping open
  // <details> open.
  function refresh(el) {
    if (document.hidden) return Promise.resolve();
    return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Herald-Live": "1" } })
      .then(function (res) {
        if (!res.ok || res.redirected) throw new Error("status " + res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(el.id);
        if (!fresh || fresh.innerHTML === el.innerHTML) return;
        var open = [];
        el.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
        el.innerHTML = fresh.innerHTML;
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) d.open = true;
        });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  document.querySelectorAll("[data-live][id]").forEach(function (el) {
    var secs = parseInt(el.getAttribute("data-live"), 10) || 5;
    setInterval(function () { refresh(el); }, Math.max(secs, 2) * 1000);
  });
})();
