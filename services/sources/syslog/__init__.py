"""Syslog messages to Flume events, as Flume 1.11's three syslog sources build them.

Flume has two parsers, both reproduced here: utils.py is Flume's SyslogUtils (syslogtcp and
syslogudp) and parser.py its SyslogParser (multiport_syslogtcp). event.py holds the event, the
status headers and keepFields they share, civil_time.py the date and zone arithmetic.
"""
