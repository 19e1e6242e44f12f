"""The edge where real devices come in (contract section 7): SIA DC-09 alarm panels over TCP
and UDP, phones and beeper gateways over HTTP. Each becomes an event of contract section 1
on its topic; admission then treats it like any other event.
"""
