"""Back-office (后台) domain: what staff look up and manage behind the admin pages.

``orders`` (search criteria, status labels and event history of booking and payment orders),
``order_trace`` (订单全链路: one order's whole story), ``worklist`` (the home page's 今日概况 and
worklist), ``operators`` (操作员: department, deactivation, password resets). The pages themselves are
in app/admin (the face); callers import from these modules directly."""
