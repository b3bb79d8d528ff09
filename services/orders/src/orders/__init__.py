"""The Order Service: the catalog (prices and stock) and customers' orders, with the payment saga."""
