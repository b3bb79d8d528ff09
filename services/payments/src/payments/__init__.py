"""The Payment Service: charges each order once through a payment provider and refunds cancelled ones."""
