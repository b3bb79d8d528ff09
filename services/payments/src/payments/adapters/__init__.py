"""Adapters of the Payment Service: database, provider, gRPC and messaging. Generated types stop here."""
