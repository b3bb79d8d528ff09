"""Adapters of the Notification Service: database, gRPC, messaging, templates and SMTP. Generated types stop
here."""
