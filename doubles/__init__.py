"""Doubles of what the hospital's platform talks to, kept outside the product so that a production image
can leave this package out: the simulated HIS (``doubles.his``), the sandbox WeChat Pay / Alipay channels,
sign-in and pushes (``doubles.channels``) and the demo hospital's data (``doubles.demo``).

Only app/doubles_switch.py reaches in here, when the configuration names a double (HIS_MODE=simulator,
PAYMENT_MODE / OAUTH_MODE / MESSAGE_MODE=sandbox, DEMO_MODE). Doubles may use the product; never the reverse.
"""
