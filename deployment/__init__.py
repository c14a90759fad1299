"""Serving: the local TF Serving-compatible server (``deployment.server``) and GKE manifests."""
