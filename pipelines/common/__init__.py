"""What every part of clickflow shares: names and paths, the error base class, the request-log
contract, metric helpers, command-line argument types and child-process helpers.

Nothing here imports the rest of ``pipelines`` (only ``models.features``): the server, the
dashboard, the monitor and the runners all build on it.
"""
