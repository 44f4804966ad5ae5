"""Reports for the back-office: ``statistics`` (交易统计), ``analytics`` and ``analytics_tables`` (数据分析),
``rollups`` (the daily rollups both read for closed days) and ``exports`` (.xlsx downloads built by Huey)."""
