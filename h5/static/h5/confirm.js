// Ask before anything that cannot be undone (取消预约, 解绑, 退出候补 ...): a form with data-confirm="question"
// opens a WeUI dialog; only 确定 sends it. The button labels come from the page (data-confirm-ok/-cancel on
// <body>), so the dialog speaks the page's language. A static file: the CSP allows no inline script.
(function () {
  var labels = document.body.dataset;
  // iOS shows :active (WeUI's pressed buttons) only once the page listens to touches (was ontouchstart="")
  document.body.addEventListener('touchstart', function () {}, {passive: true});
  function ask(question, onYes) {
    var box = document.createElement('div');
    box.className = 'h5-dialog';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-modal', 'true');
    box.innerHTML = '<div class="weui-mask"></div><div class="weui-dialog">' +
      '<div class="weui-dialog__bd"></div><div class="weui-dialog__ft">' +
      '<button type="button" class="weui-dialog__btn weui-dialog__btn_default" data-dialog-no></button>' +
      '<button type="button" class="weui-dialog__btn weui-dialog__btn_primary" data-dialog-yes></button>' +
      '</div></div>';
    box.querySelector('.weui-dialog__bd').textContent = question;
    box.querySelector('[data-dialog-no]').textContent = labels.confirmCancel || '取消';
    box.querySelector('[data-dialog-yes]').textContent = labels.confirmOk || '确定';
    function close() { box.remove(); }
    box.querySelector('[data-dialog-no]').addEventListener('click', close);
    box.querySelector('.weui-mask').addEventListener('click', close);
    box.querySelector('[data-dialog-yes]').addEventListener('click', function () { close(); onYes(); });
    document.body.appendChild(box);
    box.querySelector('[data-dialog-yes]').focus();
  }
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (form.dataset.confirmed === '1') return;
      event.preventDefault();
      ask(form.dataset.confirm, function () {
        form.dataset.confirmed = '1';
        var button = form.querySelector('[type=submit]');
        if (button) button.disabled = true;  // one tap, one request
        form.submit();
      });
    });
  });
  // <select data-autosubmit>: choosing a value sends its form (was an inline onchange)
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });
})();
