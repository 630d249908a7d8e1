// Registervakt, every page: the idle warning and sign-out, and progress on long actions.
// Served from /static/frame.js because the CSP allows no inline script. Its texts come from
// the page's own catalogue (the JSON block #rv-text, written by the server in the page's
// language); it writes them with textContent, never as markup, and touches no member data.
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

  // Signed-in pages carry data-idle-seconds: the session's idle timeout. The server ends an
  // idle session by itself; this shows a warning a minute before and then signs out, so a
  // screen left open does not keep member data on show.
  function idle() {
    var secs = parseInt(document.body.getAttribute("data-idle-seconds"), 10);
    var box = document.getElementById("idle-warning");
    var form = document.getElementById("logout-form");
    if (!secs || !box || !form) {
      return;
    }
    var left = box.querySelector("[data-idle-left]");
    var stay = box.querySelector("[data-idle-stay]");
    var warnBefore = Math.min(60, Math.floor(secs / 2));
    // Sign out a little before the server would, so the sign-out itself still counts.
    var margin = Math.min(10, Math.floor(secs / 10));
    var deadline = 0;
    var previousFocus = null;

    function reset() {
      deadline = Date.now() + (secs - margin) * 1000;
      if (!box.hidden) {
        box.hidden = true;
        if (previousFocus && previousFocus.focus) {
          previousFocus.focus();
        }
      }
    }

    function signOut() {
      var marker = document.createElement("input");
      marker.type = "hidden";
      marker.name = "idle";
      marker.value = "1";
      form.appendChild(marker);
      form.submit();
    }

    function tick() {
      var remaining = Math.ceil((deadline - Date.now()) / 1000);
      if (remaining <= 0) {
        window.clearInterval(timer);
        signOut();
        return;
      }
      if (remaining <= warnBefore) {
        left.textContent = remaining + " " + t("seconds", "s");
        if (box.hidden) {
          previousFocus = document.activeElement;
          box.hidden = false;
          stay.focus();
        }
      }
    }

    stay.addEventListener("click", function () {
      // Any authenticated request renews the server's idle clock.
      fetch("/api/v1/me", { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (res) {
          if (res.ok) {
            reset();
          } else {
            left.textContent = t("stay_failed", "");
          }
        })
        .catch(function () {
          left.textContent = t("stay_failed", "");
        });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !box.hidden) {
        stay.click();
      }
    });

    reset();
    var timer = window.setInterval(tick, 1000);
  }

  // A form with data-busy says, once sent, that the work is under way: its buttons are
  // disabled (no double submit) and a live region reads the form's own progress text.
  function busyForms() {
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var status = form.querySelector("[data-busy-status]");
        if (!status) {
          status = document.createElement("p");
          status.className = "busy";
          status.setAttribute("role", "status");
          form.appendChild(status);
        }
        status.textContent = form.getAttribute("data-busy") || t("working", "…");
        form.setAttribute("aria-busy", "true");
        window.setTimeout(function () {
          form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
            b.disabled = true;
          });
        }, 0);
      });
    });
  }

  // Back to a page whose form was sent (the browser's page cache): it may be sent again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[aria-busy]").forEach(function (form) {
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button").forEach(function (b) {
        b.disabled = false;
      });
      var status = form.querySelector(".busy");
      if (status) {
        status.textContent = "";
      }
    });
  });

  // A link with data-busy starts a long download (the audit log export): say so beside it
  // until the browser has had time to show its own download progress.
  function busyLinks() {
    document.querySelectorAll("a[data-busy]").forEach(function (link) {
      link.addEventListener("click", function () {
        var status = link.parentNode.querySelector("[data-busy-status]");
        if (!status) {
          status = document.createElement("span");
          status.className = "busy";
          status.setAttribute("role", "status");
          status.setAttribute("data-busy-status", "");
          link.parentNode.insertBefore(status, link.nextSibling);
        }
        status.textContent = " " + link.getAttribute("data-busy");
        window.setTimeout(function () {
          status.textContent = "";
        }, 15000);
      });
    });
  }

  // Times written as <time datetime="RFC 3339"> get the reader's local time as a tooltip.
  function localTimes() {
    var lang = document.documentElement.lang === "en" ? "en-GB" : "sv-SE";
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at) && !el.title) {
        el.title = new Date(at).toLocaleString(lang);
      }
    });
  }

  function start() {
    idle();
    busyForms();
    busyLinks();
    localTimes();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
