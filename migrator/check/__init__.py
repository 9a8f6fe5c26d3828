"""`migrator check`: the seed's checklists as a read-only health check of a host.

``gather`` reads what the checks need (two round trips, plus the LMTP probe and the
planner), ``judge`` turns captured output into findings (pure), ``run`` puts them together
for one host, and ``output`` renders findings as JSON, a Nagios status line or Prometheus
text. Nothing here changes a host.
"""
