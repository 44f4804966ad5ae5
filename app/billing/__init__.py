"""Outpatient bills (门诊缴费): ``bills`` (pending bills by visit, paying them through the payment core,
导诊, the refunds the HIS asks for, reminders of new bills)."""
