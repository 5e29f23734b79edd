"""`cnnrun search`: a hyperparameter search on Optuna (plan, study, run, results)."""
