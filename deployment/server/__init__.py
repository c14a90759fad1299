"""A local model server that speaks TF Serving's REST API v1 (``python -m deployment.server``).

Clients, the dashboard and the monitoring job talk to it exactly as they would to TF Serving on
GKE; on top it logs every prediction for monitoring (``request_log``), batches concurrent
requests, and exposes Prometheus metrics and health endpoints. Heavy imports (TensorFlow) happen
only when a server is built, so ``--help`` and the request-log reader stay light.
"""
