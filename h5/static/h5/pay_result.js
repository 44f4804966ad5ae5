// 支付结果 while the order is not final: ask the server (which asks the channel) every 2 s and reload
// when the status moves. The page gives the status URL and the status it shows in data attributes.
(function () {
  var box = document.querySelector('[data-poll-url]');
  if (!box) return;
  var url = box.getAttribute('data-poll-url'), shown = box.getAttribute('data-status'), tries = 0;
  function poll() {
    tries += 1;
    fetch(url, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (d) { if (d.status !== shown) { window.location.reload(); } else if (tries < 30) { setTimeout(poll, 2000); } })
      .catch(function () { if (tries < 30) { setTimeout(poll, 4000); } });
  }
  setTimeout(poll, 1500);
})();
