"""The local stack: the four services and the dev SMTP sink (``devstack.mailsink``) as processes.

``python -m devstack run`` is what ``make run`` calls; end-to-end tests start the same stack on free ports
through ``devstack.stack.Stack``. The processes are the lines of ``deployments/Procfile``; the chaos suite
(``tests/chaos``) starts each line as several replicas, each with its own environment, through
``Stack.spawn``, and crashes and restarts them with ``Stack.kill`` and ``Stack.spawn``.
"""
