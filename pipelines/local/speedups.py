"""Speed-ups of the libraries the local runner drives (see trim_library_overheads)."""

from __future__ import annotations

from pipelines.local import beam_memo


def trim_library_overheads() -> None:
    """Removes fixed costs of the libraries TFX loads, before TFX is imported (~15 s a run).

    - TFX's InfraValidator imports the Kubernetes client, whose ``kubernetes.dynamic`` imports
      ``kubernetes_validate`` when it is installed (it is: `make test` validates our manifests
      with it), which imports jsonschema's format checkers and builds a URI grammar: ~2 s for a
      feature the pipeline never calls. The client is imported once with that optional module
      hidden, then the module is importable again for anyone else in the process.
    - Beam pickles every DoFn of every component's Beam pipeline with dill (whose logger's
      level it also resets after each pickle, clearing the cache of thousands of loggers); its
      other supported pickler, cloudpickle (``--pickle_library=cloudpickle``), is ~4 s
      faster over a 1k-row run. It is made Beam's default rather than passed as that flag,
      because any Beam flag makes TFX build an ephemeral sdist of itself per component.
    - Beam inspects the signature of every DoFn method each time it touches a DoFn (~165,000
      ``inspect.signature`` calls, ~7 s over a 1k-row run) and re-parses its flags for each
      options view it asks for (~2 s). Those answers are memoized
      (``pipelines/local/beam_memo.py``).
    - Beam's in-process runner keeps a cross-bundle state cache that its own comments call a
      testing aid ("disabled in production for other runners"); it measures every side input
      it caches with a deep object walk (~1 s over a 1k-row run). It runs as production runners
      do, without it: side inputs are read once per bundle instead.
    """
    import sys

    if "kubernetes.dynamic" not in sys.modules and "kubernetes_validate" not in sys.modules:
        sys.modules["kubernetes_validate"] = None  # type: ignore[assignment]
        try:
            import kubernetes.dynamic  # noqa: F401
        except ImportError:
            pass
        finally:
            del sys.modules["kubernetes_validate"]

    from apache_beam.internal import pickler

    pickler.DEFAULT_PICKLE_LIB = pickler.USE_CLOUDPICKLE
    beam_memo.install()
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.STATE_CACHE_SIZE_MB = 0
