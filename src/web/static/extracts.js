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

  // Elements with data-expires (RFC 3339) under `root` show "hh:mm:ss left", once a second.
  function countdowns(root) {
    var els = Array.prototype.slice.call(root.querySelectorAll("[data-expires]"));
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
    var timer = window.setInterval(function () {
      // A countdown taken off the page (the part around it was replaced) stops.
      if (!els.some(function (el) { return el.isConnected; })) {
        window.clearInterval(timer);
        return;
      }
      tick();
    }, 1000);
  }

  // The requester's extract page shows its state as it changes, without a reload: its part
  // #extract-live names where to ask (data-watch) and what it shows (data-version). Asked
  // often while the list is prepared, less while it waits or is live; never once it ended.
  // The asking does not keep the session alive (the server does not count it as activity).
  function watch() {
    var box = document.getElementById("extract-live");
    if (!box || !box.getAttribute("data-watch")) {
      return;
    }
    var url = box.getAttribute("data-watch");
    var timer = null;
    function state() {
      var el = box.querySelector("[data-state]");
      return el ? el.getAttribute("data-state") : "";
    }
    function every() {
      var s = state();
      return s === "building" ? 500 : s === "pending" ? 1500 : 15000;
    }
    // Someone typing in the part (a code, a comment) is not interrupted: asked again later.
    function typing() {
      var a = document.activeElement;
      return a && box.contains(a) && typeof a.value === "string" && a.value !== "" &&
        (a.tagName === "INPUT" || a.tagName === "TEXTAREA");
    }
    function later(ms) {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, ms);
    }
    function ask() {
      fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } }).then(function (res) {
        // Signed out or gone: the page stays as it is and stops asking.
        if (res.status === 401 || res.status === 403 || res.status === 404) {
          return null;
        }
        return res.ok ? res.text() : "";
      }).then(function (html) {
        if (html === null) {
          return;
        }
        if (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("extract-live");
          if (fresh && fresh.getAttribute("data-version") !== box.getAttribute("data-version")) {
            if (typing()) {
              later(2000);
              return;
            }
            var next = document.importNode(fresh, true);
            box.replaceWith(next);
            box = next;
            ready(box);
            var label = box.querySelector("[data-state]");
            var say = document.getElementById("extract-announce");
            if (label && say) {
              say.textContent = label.textContent;
            }
            if (!box.getAttribute("data-watch")) {
              return;
            }
          }
        }
        later(every());
      }).catch(function () {
        later(5000);
      });
    }
    // A download stays on the page: ask soon after, so the downloads left and the form's
    // token (renewed by a one-time code) are the server's.
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form && box.contains(form) && event.submitter && event.submitter.name === "format") {
        later(1500);
      }
    });
    later(every());
  }

  // What a part of a page needs once it is on the page (at load, and after it is replaced).
  function ready(root) {
    countdowns(root);
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

    function checked(name) {
      return Array.prototype.map.call(
        form.querySelectorAll('input[name="' + name + '"]:checked'),
        function (el) { return el.value; }
      );
    }

    function body() {
      var filters = {};
      var branches = checked("local_branches");
      var statuses = checked("statuses");
      if (branches.length) { filters.local_branches = branches; }
      if (statuses.length) { filters.statuses = statuses; }
      if (value("joined_from")) { filters.joined_from = value("joined_from"); }
      if (value("joined_to")) { filters.joined_to = value("joined_to"); }
      if (value("age_min")) { filters.age_min = Number(value("age_min")); }
      if (value("age_max")) { filters.age_max = Number(value("age_max")); }
      var fields = checked("fields");
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
    ready(document);
    watch();
    autosubmit();
    estimate();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
