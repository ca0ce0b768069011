"""xstilts trainers: tasks, data, models, DeepSpeed training and metrics; knows nothing of Ray Tune."""
