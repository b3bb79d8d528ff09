"""The benchmark of the e-commerce system: ``python -m ecommerce_bench run`` (``make bench``).

An open-loop load generator sends real ``POST /v1/orders`` at a ladder of rates (then a closed-loop run at
full speed) against a stack it starts (or ``--base-url`` of a running one), and measures each step: HTTP
latency, how fast orders become PAID and emailed, CPU and memory of every process, PostgreSQL
transactions and broker messages per order. ``python -m ecommerce_bench report`` turns saved results into
the tables and the plot of ``docs/performance.md``.
"""
