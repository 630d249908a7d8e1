// Registervakt, extract pages: the live member count on the request form, countdowns, local
// times, and reloading a page that waits for something. Served from /static/extracts.js
// because the CSP allows no inline script. Its texts come from the page's own catalogue (the
// JSON block #rv-text, in the page's language) and numbers and times follow the page's
// <html lang>. It never touches member data: the estimate answers with counts only, and every
// value is written with textContent, never as markup.
(function () {
  "use strict";

  function texts() {
    var el = document.getElementById("rv-text");
    try {
      return el ? JSON.parse(el.textContent) : {};
    } catch (e) {
      return {};
    }
  }
  var T = texts();
  function t(key, fallback) {
    return typeof T[key] === "string" ? T[key] : fallback;
  }
  // The page's language as a locale for numbers and dates.
  var LOCALE = document.documentElement.lang === "en" ? "en-GB" : "sv-SE";

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // Elements with data-expires (RFC 3339) show "hh:mm:ss left", once a second.
  function countdowns() {
    var els = Array.prototype.slice.call(document.querySelectorAll("[data-expires]"));
    if (els.length === 0) {
      return;
    }
    function tick() {
      var now = Date.now();
      els.forEach(function (el) {
        var at = Date.parse(el.getAttribute("data-expires"));
        if (isNaN(at)) {
          return;
        }
        var left = Math.max(0, Math.floor((at - now) / 1000));
        var h = Math.floor(left / 3600);
        var m = Math.floor((left % 3600) / 60);
        var s = left % 60;
        el.textContent = left > 0
          ? pad(h) + ":" + pad(m) + ":" + pad(s) + " " + t("left", "")
          : t("time_up", "0:00:00");
        el.setAttribute("title", new Date(at).toLocaleString(LOCALE));
      });
    }
    tick();
    window.setInterval(tick, 1000);
  }

  // A page that waits (an extract being prepared or awaiting approval) reloads itself.
  function reloads() {
    var el = document.querySelector("[data-reload]");
    if (el) {
      var secs = parseInt(el.getAttribute("data-reload"), 10) || 5;
      window.setTimeout(function () { window.location.reload(); }, secs * 1000);
    }
    // A download with a one-time code renews the session (and its form token): reload the
    // page once the file has started, so its other forms carry the new token.
    document.querySelectorAll("form[data-reload-after-submit]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        // Only a file download stays on this page; the view button navigates away.
        if (event.submitter && event.submitter.name === "format") {
          window.setTimeout(function () { window.location.reload(); }, 2000);
        }
      });
    });
  }

  // A select with data-autosubmit submits its (GET) form when it changes.
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.form) {
          select.form.submit();
        }
      });
    });
  }

  function list(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s !== ""; });
  }

  // The request form: how many members match, asked of the API as the user types (debounced,
  // since every estimate is audited).
  function estimate() {
    var form = document.getElementById("new-extract");
    var box = document.getElementById("estimate");
    if (!form || !box) {
      return;
    }
    var status = box.querySelector("[data-estimate-status]");
    var counts = {};
    box.querySelectorAll("[data-count]").forEach(function (el) {
      counts[el.getAttribute("data-count")] = el;
    });
    var timer = null;
    var asked = 0;
    var last = null;

    function value(name) {
      var el = form.elements.namedItem(name);
      return el && typeof el.value === "string" ? el.value.trim() : "";
    }

    function body() {
      var filters = {};
      var branches = list(value("local_branches"));
      var statuses = list(value("statuses"));
      if (branches.length) { filters.local_branches = branches; }
      if (statuses.length) { filters.statuses = statuses; }
      if (value("joined_from")) { filters.joined_from = value("joined_from"); }
      if (value("joined_to")) { filters.joined_to = value("joined_to"); }
      if (value("age_min")) { filters.age_min = Number(value("age_min")); }
      if (value("age_max")) { filters.age_max = Number(value("age_max")); }
      var fields = Array.prototype.map.call(
        form.querySelectorAll('input[name="fields"]:checked'),
        function (el) { return el.value; }
      );
      return { purpose: value("purpose"), district: value("district"), filters: filters, fields: fields };
    }

    function show(data) {
      Object.keys(counts).forEach(function (key) {
        counts[key].textContent = typeof data[key] === "number" ? data[key].toLocaleString(LOCALE) : "–";
      });
    }

    // The API's refusal in the page's language when the catalogue knows its code, else the
    // API's own sentence (codes such as invalid_input carry details).
    function refusal(data) {
      var code = data && typeof data.error === "string" ? data.error : "";
      var known = t("error_" + code, "");
      if (known) {
        return known;
      }
      return data && data.message ? data.message : t("estimate_failed", "");
    }

    function run() {
      if (value("district") === "") {
        show({});
        status.textContent = t("choose_district", "");
        return;
      }
      var json = JSON.stringify(body());
      if (json === last) {
        return;
      }
      last = json;
      var mine = ++asked;
      status.textContent = t("counting", "…");
      fetch("/api/v1/extracts/estimate", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: json
      }).then(function (res) {
        return res.json().then(function (data) { return { ok: res.ok, data: data }; });
      }).then(function (answer) {
        if (mine !== asked) {
          return;
        }
        if (answer.ok) {
          show(answer.data);
          status.textContent = "";
        } else {
          show({});
          status.textContent = refusal(answer.data);
        }
      }).catch(function () {
        last = null;
        if (mine === asked) {
          show({});
          status.textContent = t("estimate_offline", "");
        }
      });
    }

    // Only the scope changes the count; typing a justification asks nothing.
    var scope = ["district", "local_branches", "statuses", "joined_from", "joined_to", "age_min", "age_max", "fields"];
    function later(event) {
      if (!event.target || scope.indexOf(event.target.name) < 0) {
        return;
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(run, 600);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    run();
  }

  function start() {
    countdowns();
    reloads();
    autosubmit();
    estimate();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
