"""The chaos suite: the real stack as processes, orders placed through the SDK, faults struck into it, and an
audit of the end state from the services' databases, the broker and the mail sink.

``make chaos`` runs every scenario (``python -m chaos``); ``test_chaos_short.py`` runs a few on a short
plan inside ``make test``. What each scenario does and how the audit counts: ``docs/reliability.md``.

- ``tcp_proxy``: the proxy on every link (pass, latency, drop, refuse, hold);
- ``fleet``: the stack, N replicas per service, every link through a proxy;
- ``load``: the customers and what they saw;
- ``amqp_wire``: a raw AMQP client for messages no normal client can send or read;
- ``faults``: what is done to the fleet; ``scenarios``: when and for how long;
- ``evidence``: the system's books; ``audit``: the verdict; ``runner``: one scenario, start to verdict;
- ``report``: the table, JSON and Markdown.
"""
