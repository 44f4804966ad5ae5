"""Payments (缴费): the money side of registration fees, outpatient bills, deposits and classes.

``states`` names the lifecycles and decides each event; ``commands`` holds the use cases, each in one
unit of work; ``queries`` reads. The HIS and the channels are reached only through their adapters.
"""
