"""The shared runtime of the e-commerce services: one bus, one outbox, one inbox, one config loader.

Every service builds on these modules instead of growing its own copy:

- ``config``: typed settings from the environment, validated once at start.
- ``db``: the async SQLAlchemy engine (SQLite under ``var/`` by default, PostgreSQL via a URL).
- ``messages``: the envelope of an event on the wire (outgoing and incoming).
- ``bus``: RabbitMQ topology, publisher with confirms, consumer with retries and dead-lettering.
- ``outbox`` / ``inbox``: transactional outbox with its relay; idempotent consumption by event id.
"""
