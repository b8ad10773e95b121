"""Connectors: further readers of the outbox, each with its own cursor, that map our events to a
vendor's API calls (HubSpot for now). The runner and the admin's services are in `services`; a
vendor's client and mapping in a module of its own, registered in `registry`."""
