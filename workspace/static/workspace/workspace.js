/* The regulator's workspace: keeps a running evaluation's progress live by polling its JSON
   progress endpoint (elements with data-progress-url). On a run's own page the page reloads once
   the run has finished, to show the status changes it found. */
"use strict";
(function () {
  var INTERVAL_MS = 1000;
  var MAX_INTERVAL_MS = 10000;

  function label(status) {
    return {pending: "pending", running: "running", finished: "finished", failed: "failed"}[status] || status;
  }

  function update(cell, data) {
    var run = cell.getAttribute("data-run");
    var bar = cell.querySelector("progress");
    var text = cell.querySelector(".progress-text");
    if (bar) { bar.value = data.percent; }
    if (text) { text.textContent = data.done + " of " + data.total + " subjects (" + data.percent + " %)"; }
    document.querySelectorAll('.run-status[data-run="' + run + '"]').forEach(function (status) {
      var badge = document.createElement("span");
      badge.className = "status status-" + data.status;
      badge.textContent = label(data.status);
      status.replaceChildren(badge);
    });
    document.querySelectorAll('.run-changes[data-run="' + run + '"]').forEach(function (changes) {
      changes.textContent = String(data.changes);
    });
  }

  function poll(cell) {
    var url = cell.getAttribute("data-progress-url");
    var delay = INTERVAL_MS;
    var onRunPage = document.body.classList.contains("model-evaluationrun") &&
      document.body.classList.contains("change-form");

    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}, cache: "no-store"})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          delay = INTERVAL_MS;
          update(cell, data);
          cell.setAttribute("data-polls", String(Number(cell.getAttribute("data-polls") || "0") + 1));
          if (data.finished) {
            cell.removeAttribute("data-progress-url");
            if (onRunPage) { window.location.reload(); }
            return;
          }
          window.setTimeout(tick, delay);
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_INTERVAL_MS);
          window.setTimeout(tick, delay);
        });
    }
    window.setTimeout(tick, INTERVAL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(poll);
  });
}());
