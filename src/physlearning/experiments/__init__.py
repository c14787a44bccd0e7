"""Config, trainer, run store, plots and reports shared by every experiment."""
