// dealpulse web app: a few conveniences, no framework, nothing fetched from elsewhere.
(function () {
  "use strict";
  // a <select data-autosubmit> sends its form when changed
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) { el.form.submit(); } });
  });
  // a form is sent once: its buttons are disabled while the page reloads
  document.querySelectorAll("form.act").forEach(function (form) {
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();
