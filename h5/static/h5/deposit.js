// 押金补缴: a suggested amount chip fills the amount field.
document.querySelectorAll('[data-fill]').forEach(function (chip) {
  chip.addEventListener('click', function () { document.getElementById('amount').value = chip.dataset.fill; });
});
