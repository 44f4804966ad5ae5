/* 排队叫号: refresh the numbers in place every 10 s from /h5/queue/status.json (no framework, no CDN). */
(function () {
  "use strict";
  var box = document.getElementById("my-queue");
  if (!box || !window.fetch) { return; }
  var STATUS = {};
  document.querySelectorAll("[data-status-label]").forEach(function (el) { STATUS[el.dataset.statusLabel] = el.textContent; });
  function set(root, field, value) {
    var el = root.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== String(value)) { el.textContent = value; el.classList.add("h5-flash-change"); }
  }
  function apply(data) {
    (data.tickets || []).forEach(function (t) {
      var card = box.querySelector('[data-queue-no="' + t.queue_no + '"][data-area="' + t.area_code + '"]');
      if (!card) { return; }
      set(card, "current_no", t.current_no || "-");
      set(card, "ahead_count", t.ahead_count);
      card.className = card.className.replace(/h5-ticket--\w+/, "h5-ticket--" + t.status);
      if (STATUS[t.status]) { set(card, "status", STATUS[t.status]); }
    });
    (data.areas || []).forEach(function (a) {
      var row = document.querySelector('[data-area-row="' + a.area_code + '"]');
      if (!row) { return; }
      set(row, "current_no", a.current_no || "-");
      set(row, "waiting", a.waiting);
    });
    var stamp = document.getElementById("queue-updated");
    if (stamp) {
      var now = new Date();
      stamp.textContent = stamp.dataset.label + " " + now.toTimeString().slice(0, 8);
    }
  }
  function refresh() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { apply(data); } })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }
  window.h5RefreshQueue = refresh;
  setInterval(refresh, 10000);
})();
