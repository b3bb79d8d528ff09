"""The Notification Service: emails customers about their orders, driven by order and payment events."""
