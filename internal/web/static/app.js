// quai dashboard: the theme toggle, graphs (uPlot), live logs and
// operation events (server-sent events). No inline script: the page's
// Content-Security-Policy allows only files served by the daemon.
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };

  // Theme: auto → light → dark → auto.
  function themeButton() {
    var b = $("#theme");
    if (!b) return;
    var label = function () {
      var t = document.documentElement.dataset.theme || "auto";
      b.textContent = t === "dark" ? "☾" : t === "light" ? "☀" : "◐";
      b.setAttribute("aria-label", "colour theme: " + (t === "auto" ? "follows the system" : t) + "; press to change");
    };
    label();
    b.addEventListener("click", function () {
      var t = document.documentElement.dataset.theme || "auto";
      var next = t === "auto" ? "light" : t === "light" ? "dark" : "auto";
      if (next === "auto") delete document.documentElement.dataset.theme;
      else document.documentElement.dataset.theme = next;
      try { localStorage.setItem("quai-theme", next); } catch (e) { /* storage off */ }
      label();
      document.dispatchEvent(new Event("quai-theme"));
    });
  }

  // Graphs.
  function charts() {
    var box = $("[data-charts]");
    if (!box || typeof uPlot === "undefined") return;
    var range = "1h";
    var plots = [];
    var css = function (v) { return getComputedStyle(document.documentElement).getPropertyValue(v).trim(); };
    var colours = ["--accent", "--bad", "--ok", "--warn"];
    function draw() {
      fetch(box.dataset.charts + "?range=" + range, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (d) {
          plots.forEach(function (p) { p.destroy(); });
          plots = [];
          box.textContent = "";
          var width = Math.max(260, Math.min(560, box.clientWidth - 8));
          d.charts.forEach(function (c) {
            var fig = document.createElement("figure");
            fig.className = "chart";
            var cap = document.createElement("figcaption");
            cap.textContent = c.title + " (" + c.unit + ")";
            fig.appendChild(cap);
            box.appendChild(fig);
            if (!c.t || c.t.length < 2) {
              var none = document.createElement("p");
              none.className = "muted nodata";
              none.textContent = "no data yet for this range";
              fig.appendChild(none);
              return;
            }
            var data = [c.t].concat(c.series.map(function (s) { return s.values; }));
            var axis = { stroke: css("--muted"), grid: { stroke: css("--line") }, ticks: { stroke: css("--line") } };
            var opts = {
              width: width, height: 160,
              series: [{}].concat(c.series.map(function (s, i) {
                return { label: s.label, stroke: css(colours[i % colours.length]), width: 1.5 };
              })),
              axes: [axis, axis],
              legend: { show: true }
            };
            plots.push(new uPlot(opts, data, fig));
          });
        })
        .catch(function (e) { box.textContent = "The graphs could not be loaded (" + e.message + ")."; });
    }
    document.querySelectorAll("[data-range]").forEach(function (b) {
      b.addEventListener("click", function () {
        range = b.dataset.range;
        document.querySelectorAll("[data-range]").forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
        draw();
      });
    });
    document.addEventListener("quai-theme", draw);
    if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
    draw();
  }

  // Live logs: follows while the page is open; pause keeps what arrives
  // and shows it on resume; the filter hides the lines without the text.
  function logs() {
    var form = $("[data-logs]");
    if (!form) return;
    var out = $("#log"), status = $("#log-status"), pause = $("#log-pause");
    var filter = $("#log-filter"), service = $("#log-service");
    var paused = false, held = [], es = null, max = 2000;
    function show(l) {
      var row = document.createElement("div");
      row.className = "line";
      row.textContent = l.replica + " | " + l.line;
      var f = filter.value.toLowerCase();
      if (f && row.textContent.toLowerCase().indexOf(f) < 0) row.hidden = true;
      out.appendChild(row);
      while (out.childNodes.length > max) out.removeChild(out.firstChild);
      out.scrollTop = out.scrollHeight;
    }
    function connect() {
      if (es) es.close();
      out.textContent = "";
      var url = form.dataset.logs + (service.value ? "?service=" + encodeURIComponent(service.value) : "");
      es = new EventSource(url);
      status.textContent = "connecting…";
      es.onopen = function () { status.textContent = paused ? "paused" : "following"; };
      es.addEventListener("log", function (e) {
        var l = JSON.parse(e.data);
        if (paused) { held.push(l); if (held.length > max) held.shift(); } else show(l);
      });
      es.addEventListener("end", function (e) {
        status.textContent = "the log stream ended: " + (JSON.parse(e.data).error || "");
        es.close();
      });
      es.onerror = function () { status.textContent = "reconnecting…"; };
    }
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
      status.textContent = paused ? "paused" : "following";
      if (!paused) { held.forEach(show); held = []; }
    });
    filter.addEventListener("input", function () {
      var f = filter.value.toLowerCase();
      out.querySelectorAll(".line").forEach(function (row) {
        row.hidden = !!f && row.textContent.toLowerCase().indexOf(f) < 0;
      });
    });
    service.addEventListener("change", connect);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    connect();
  }

  // An operation's events, as the CLI prints them.
  function opEvents() {
    var list = $("[data-events]");
    if (!list) return;
    var status = $("#op-status");
    var es = new EventSource(list.dataset.events);
    es.addEventListener("op", function (e) {
      var ev = JSON.parse(e.data);
      var li = document.createElement("li");
      li.className = "ev ev-" + ev.kind;
      var what = [ev.kind, ev.step, ev.service, ev.replica].filter(Boolean).join(" ");
      li.textContent = what + (ev.message ? ": " + ev.message : "") + (ev.error ? ": " + ev.error : "");
      if (ev.text) {
        var pre = document.createElement("pre");
        pre.textContent = ev.text;
        li.appendChild(pre);
      }
      list.appendChild(li);
      if (ev.kind === "done") status.textContent = "done" + (ev.release ? ": release " + ev.release : "");
      if (ev.kind === "failed") status.textContent = "failed: " + (ev.error || ev.message || "");
    });
    es.addEventListener("end", function (e) {
      var d = JSON.parse(e.data);
      status.dataset.done = "true";
      if (d.error) status.textContent = "failed: " + d.error;
      else if (status.textContent.indexOf("done") !== 0) status.textContent = "done";
      es.close();
    });
  }

  // The activity feed: every operation's events, grouped by instance; an
  // event after a finished operation of an instance starts a new group.
  function activity() {
    var box = $("[data-activity]");
    if (!box) return;
    var status = $("#activity-status"), groups = {}, max = 50;
    var es = new EventSource(box.dataset.activity);
    es.onopen = function () { status.textContent = "following"; status.dataset.open = "true"; };
    es.onerror = function () { status.textContent = "reconnecting…"; };
    es.addEventListener("op", function (e) {
      var ev = JSON.parse(e.data);
      var empty = $("#activity-empty");
      if (empty) empty.remove();
      var g = groups[ev.instance];
      if (!g || g.done) {
        g = { done: false, el: document.createElement("section") };
        g.el.className = "op-group";
        g.el.dataset.instance = ev.instance || "";
        var h = document.createElement("h2");
        var a = document.createElement("a");
        a.href = "/ui/i/" + encodeURIComponent(ev.instance);
        a.textContent = ev.instance;
        h.appendChild(a);
        g.state = document.createElement("span");
        g.state.className = "muted op-state";
        g.state.textContent = " running";
        h.appendChild(g.state);
        g.list = document.createElement("ol");
        g.list.className = "events";
        g.el.appendChild(h);
        g.el.appendChild(g.list);
        box.insertBefore(g.el, box.firstChild);
        groups[ev.instance] = g;
        while (box.children.length > max) box.removeChild(box.lastChild);
      }
      var li = document.createElement("li");
      li.className = "ev ev-" + ev.kind;
      var what = [ev.kind, ev.step, ev.service, ev.replica].filter(Boolean).join(" ");
      li.textContent = what + (ev.message ? ": " + ev.message : "") + (ev.error ? ": " + ev.error : "");
      g.list.appendChild(li);
      if (ev.kind === "done" || ev.kind === "failed") {
        g.done = true;
        g.el.dataset.done = ev.kind;
        g.state.textContent = " " + ev.kind + (ev.release ? ": release " + ev.release : "");
      }
    });
    es.addEventListener("end", function (e) {
      status.textContent = "the feed ended: " + (JSON.parse(e.data).error || "");
      es.close();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    themeButton(); charts(); logs(); opEvents(); activity();
  });
})();
