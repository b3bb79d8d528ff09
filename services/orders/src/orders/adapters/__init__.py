"""Adapters of the Order Service: database, gRPC and messaging. Generated types stop here."""
