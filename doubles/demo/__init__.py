"""The demo hospital's data (`flask demo seed`): staff accounts, content and settings (``hospital``), bills
(``bills``), a month of back-office orders (``backoffice``) and the mothers' demo (``mothers``). Idempotent."""
