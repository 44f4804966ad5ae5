"""The hospital's rules, one module per domain. Only a service's unit of work commits."""
