"""The results store: the recipe-facing report API, the typed result, bundles on disk, history, figures and bundle comparison."""
