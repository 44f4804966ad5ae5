// 门诊缴费: the visit total follows the ticked bills (the server recomputes it from the HIS anyway).
document.querySelectorAll('form.h5-visit').forEach(function (form) {
  function update() {
    var fen = 0;
    form.querySelectorAll('input[name=bill_no]:checked').forEach(function (b) { fen += parseInt(b.dataset.amount, 10); });
    form.querySelector('[data-total]').textContent = '¥' + Math.floor(fen / 100) + '.' + String(fen % 100).padStart(2, '0');
    form.querySelector('[data-pay-visit]').disabled = fen === 0;
  }
  form.addEventListener('change', update);
  update();
});
