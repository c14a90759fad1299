"""What pipeline runs recorded: the ML Metadata store, and each run's artifacts and metrics."""
