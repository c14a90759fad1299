"""`make bench-quality`: the pipeline's model beside simple baselines on the pipeline's split."""
