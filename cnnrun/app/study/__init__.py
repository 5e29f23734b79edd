"""The engine sweeps and searches share: an Optuna study in a storage, the workers that take
its trials, how a dead worker's trial is found and queued again, what each trial keeps."""
