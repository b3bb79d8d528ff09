"""The API Gateway: the public REST API of the system, authentication, and routing to the services."""
