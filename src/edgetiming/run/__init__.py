"""The executor: reading recipes, running them with nbclient, the cache and the progress lines. Depends on nothing in site/."""
