// Applies the colour theme chosen with the toggle before the page paints
// (no flash); "auto" follows prefers-color-scheme.
(function () {
  var t = null;
  try { t = localStorage.getItem("quai-theme"); } catch (e) { /* storage off */ }
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
})();
