/* The report generation page: follows each queued report's build by polling its JSON progress
   endpoint (rows with data-report-progress-url), and shows its download link once it is written. */
"use strict";
(function () {
  var INTERVAL_MS = 1000;
  var MAX_INTERVAL_MS = 10000;

  function update(row, data) {
    var bar = row.querySelector("progress");
    if (bar) { bar.value = data.percent; }
    row.querySelector(".report-percent").textContent = Number(data.percent).toFixed(1) + " %";
    row.querySelector(".report-stage").textContent = data.stage;
    if (data.download_url) {
      var link = document.createElement("a");
      link.href = data.download_url;
      link.textContent = data.filename || "download";
      row.querySelector(".report-download").replaceChildren(link);
    }
  }

  function poll(row) {
    var url = row.getAttribute("data-report-progress-url");
    var delay = INTERVAL_MS;

    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}, cache: "no-store"})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          delay = INTERVAL_MS;
          update(row, data);
          row.setAttribute("data-polls", String(Number(row.getAttribute("data-polls") || "0") + 1));
          if (data.finished) {
            row.removeAttribute("data-report-progress-url");
            row.setAttribute("data-finished", data.status);
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
    document.querySelectorAll("[data-report-progress-url]").forEach(poll);
  });
}());
